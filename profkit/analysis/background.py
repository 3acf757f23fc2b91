"""Run one analysis step in a forked process while this one goes on with the others.

On a big trace `summarize` is single-threaded pandas work while the second core
idles. `Background(fn, *args, result_type=T)` forks (copy-on-write: the loaded
trace is shared, not copied); the child computes `fn(*args)` and sends back the
result encoded with msgpack (a result-model Struct: exact, floats included);
`.result()` decodes it. Anything that goes wrong in the child (an exception, a
signal, a result that does not decode) makes `.result()` compute it here, so the
output is the same either way. The step runs inline when forking is not safe or
not worth it: no os.fork, a daemonic process (a Dask worker), other threads alive
(a child of a multi-threaded process may inherit a lock held by another thread),
or `inline=True` (small traces, where the fork costs more than it saves).
"""

import multiprocessing
import os
import threading

import msgspec


class Background:
    def __init__(self, fn, *args, result_type, inline=False, **kwargs):
        self._call = (fn, args, kwargs)
        self._type = result_type
        self._pid = self._fd = None
        if inline or not hasattr(os, "fork") or multiprocessing.current_process().daemon \
                or threading.active_count() > 1:
            return
        r, w = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(r)
            os.close(w)
            return
        if pid == 0:  # the child: compute, send, and leave without running the parent's exit code
            status = 1
            try:
                os.close(r)
                data = msgspec.msgpack.encode(fn(*args, **kwargs))
                with os.fdopen(w, "wb") as f:
                    f.write(data)
                status = 0
            finally:
                os._exit(status)
        os.close(w)
        self._pid, self._fd = pid, r

    def __del__(self):
        # Never asked for (an error elsewhere): let the child finish or fail on the closed pipe, reap it.
        if self._pid is not None:
            os.close(self._fd)
            os.waitpid(self._pid, 0)

    def result(self):
        """The step's result: from the child when it delivered one, else computed here."""
        if self._pid is not None:
            try:
                with os.fdopen(self._fd, "rb") as f:
                    data = f.read()
                _, status = os.waitpid(self._pid, 0)
                if status == 0:
                    return msgspec.msgpack.decode(data, type=self._type)
            except (OSError, msgspec.DecodeError):
                pass
            finally:
                self._pid = None
        fn, args, kwargs = self._call
        return fn(*args, **kwargs)
