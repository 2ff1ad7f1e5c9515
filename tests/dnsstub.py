"""A DNS server on loopback that answers from a dictionary: the edge that tests fake.

It speaks real DNS over UDP (dnspython builds the wire answers), so the resolver code under test
is exercised end to end. Names not in the zone get NXDOMAIN; `down = True` makes it stop answering
(the resolver then times out, as with an unreachable server).
"""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsStub:
    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.down = False
        self.queries: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="dns-stub", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.txt.clear()
        self.queries.clear()
        self.down = False

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self._sock.recvfrom(4096)
            except OSError:
                return
            if self.down:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            self.queries.append(name)
            records = self.txt.get(name)
            if question.rdtype == dns.rdatatype.TXT and records:
                # Long records (DKIM keys) are split into 255-byte strings, as real zones do.
                values = [
                    " ".join(f'"{r[i : i + 255]}"' for i in range(0, len(r), 255)) for r in records
                ]
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 300, "IN", "TXT", values)
                )
            elif not records:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self._sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._sock.close()
