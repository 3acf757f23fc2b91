"""Time: busy/idle and idle gaps, steps, launches, CUDA graphs, communication and the what-if."""
