"""A loopback TCP proxy in front of a service, to make the broker stop answering at a moment a test chooses."""

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target_port`.

    `stall()` stops passing on what clients send (it stays here, the service
    does not see it until `flow()`); `cut()` then drops every connection, discarding it, and
    refuses new ones, as a broker that went away would; `drop()` only closes
    the connections made so far.
    """

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.port = int(self._listener.getsockname()[1])
        self._flowing = threading.Event()
        self._flowing.set()
        self._cut = False
        #: Bytes clients sent while stalled (held here, never passed on).
        self.held = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        self._flowing.clear()

    def flow(self) -> None:
        """Pass on what was held, and whatever follows, as a broker that answers again would."""
        self._flowing.set()

    def drop(self) -> None:
        """Close the connections made so far and keep accepting new ones, as a broker that restarted would."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self) -> None:
        """Idempotent: a test's cleanup may cut again."""
        self._cut = True
        self._flowing.set()  # wakes the stalled pipes, which then drop what they hold
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # close() alone does not wake the thread blocked in accept()
        self._listener.close()
        self.drop()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # cut
            if self._cut:
                client.close()
                return
            try:
                upstream = socket.create_connection(('127.0.0.1', self._target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if from_client and not self._flowing.is_set():
                    self.held += len(data)
                    self._flowing.wait()
                if self._cut:
                    break
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_RDWR if self._cut else socket.SHUT_WR)
