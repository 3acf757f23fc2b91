"""Cost: FLOPs and bytes per op, efficiency and MUE per class, the analytical roofline."""
