"""A stand-in for the host's DNS resolver in network tests: answers every
A query with 10.1.2.3 (TTL 60) and counts queries, on the UDP address given
as argv[1] ("ip:port"). Just enough DNS to be recognisable."""
import socket
import struct
import sys


def answer(query):
    if len(query) < 12:
        return None
    qid, flags, qd, _, _, _ = struct.unpack(">HHHHHH", query[:12])
    if qd < 1:
        return None
    i = 12
    while i < len(query) and query[i] != 0:
        i += query[i] + 1
    question = query[12:i + 5]
    qtype = struct.unpack(">H", query[i + 1:i + 3])[0] if i + 3 <= len(query) else 0
    header = struct.pack(">HHHHHH", qid, 0x8180, 1, 1 if qtype == 1 else 0, 0, 0)
    if qtype != 1:
        return header + question
    rr = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("10.1.2.3")
    return header + question + rr


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(4096)
        reply = answer(data)
        if reply:
            s.sendto(reply, peer)


if __name__ == "__main__":
    main()
