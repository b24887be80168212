"""Several captures merged into one pcap stream, as packets arrive.

One tcpdump per interface writes pcap to a pipe (Machine.stream); a reader thread per
pipe hands over whole records, and the calling thread writes one global header and then
each record as it comes, flushed at once, so that Wireshark reading the stream shows
packets live. It stops after count records in all, when one capture ends, when the
reader of the output goes away (Wireshark closed), or when stop() is called (the CLI's
Ctrl-C and SIGTERM); every tcpdump is then asked to stop and its pipe read to its end,
so that none is left blocked on a full pipe.
"""

import queue
import threading
from typing import BinaryIO, List, Optional, Sequence, Tuple

from netplay.core.errors import HostError
from netplay.machine.base import Machine, Stream
from netplay.observe import pcap

_END = object()  # a reader's last item: its stream ended


class Merge:
    """Captures running on a machine, merged into out by run()."""

    def __init__(self, machine: Machine, captures: Sequence[Tuple[str, List[str]]],
                 out: BinaryIO, count: Optional[int] = None) -> None:
        """captures: (shown name, tcpdump argv writing pcap to stdout) per interface."""
        self.names = [name for name, _ in captures]
        self.out, self.count = out, count
        self.written = 0
        self._started = False  # the global header is written
        self._items: "queue.Queue[Tuple[int, object]]" = queue.Queue()
        self.streams: List[Stream] = []
        try:
            for _, argv in captures:
                self.streams.append(machine.stream(argv))
        except BaseException:
            self.stop()
            raise
        for index, stream in enumerate(self.streams):
            threading.Thread(target=self._read, args=(index, stream), daemon=True).start()

    def _read(self, index: int, stream: Stream) -> None:
        try:
            header = pcap.read_header(stream.stdout)
            if header is not None:
                self._items.put((index, header))
                for record in pcap.read_records(stream.stdout, header):
                    self._items.put((index, record))
        except (pcap.PcapError, OSError) as exc:
            self._items.put((index, exc))
        self._items.put((index, _END))

    def stop(self) -> None:
        """Ask every capture to stop; run() returns once each has ended."""
        for stream in self.streams:
            stream.stop()

    def run(self) -> int:
        """Merge until every capture has ended: 0, or the first failing exit code."""
        headers: List[Optional[pcap.Header]] = [None] * len(self.streams)
        waiting, running = set(range(len(self.streams))), len(self.streams)
        held: List[pcap.Record] = []  # records that came before every header did
        problem: Optional[Exception] = None
        while running:
            try:
                index, item = self._items.get(timeout=0.2)
            except queue.Empty:  # a pause in which a signal handler may call stop()
                continue
            if item is _END:
                running -= 1
                waiting.discard(index)
                self.stop()  # one capture ended (its -c, an error): the merge ends too
            elif isinstance(item, pcap.Header):
                headers[index] = item
                waiting.discard(index)
            elif isinstance(item, Exception):
                problem = problem or item
                self.stop()
            elif problem is None:
                held.append(item)  # type: ignore[arg-type]
            if not waiting and problem is None and any(headers):
                problem = self._write(headers, held)
                held = []
        rcs = [stream.wait() for stream in self.streams]
        if problem is not None and not isinstance(problem, BrokenPipeError):
            raise HostError(f"capture: {problem}")
        return next((rc for rc in rcs if rc != 0), 0)

    def _write(self, headers: List[Optional[pcap.Header]],
               records: List[pcap.Record]) -> Optional[Exception]:
        """Write the global header once, then records up to count; the problem, if any."""
        try:
            if not self._started:
                self.out.write(pcap.global_header(*self._linktype(headers)))
                self._started = True
            for record in records:
                if self.count is not None and self.written >= self.count:
                    break  # records that came after the count's last, while stopping
                self.out.write(pcap.encode_record(record))
                self.written += 1
            self.out.flush()
            if self.count is not None and self.written >= self.count:
                self.stop()
        except (BrokenPipeError, pcap.PcapError) as exc:
            self.stop()
            return exc
        return None

    def _linktype(self, headers: List[Optional[pcap.Header]]) -> Tuple[int, int]:
        """(link type, snaplen) of the merged stream: the captures must agree on the first."""
        known = [(name, h) for name, h in zip(self.names, headers) if h is not None]
        kinds = {h.linktype for _, h in known}
        if len(kinds) > 1:
            shown = ", ".join(f"{name} has {h.linktype}" for name, h in known)
            raise pcap.PcapError(f"one pcap stream holds one link type ({shown}); capture "
                                 f"these interfaces separately")
        return known[0][1].linktype, max(h.snaplen for _, h in known)
