"""FastCGI records for the tests' Python responders (t/lib.sh's fixture,
gateway-auth.sh's key server, gateway-reload.sh's graceful service).

t_fcgi_proto (t/lib.sh) copies this file next to the script that imports
it, so `from fcgi_proto import ...` works wherever the gateway runs it.
"""
import struct

HDR = struct.Struct("!BBHHBx")
BEGIN, ABORT, END, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6
GET_VALUES, GET_VALUES_RESULT, UNKNOWN = 9, 10, 11
END_OK = struct.pack("!IB3x", 0, 0)	# END_REQUEST body: complete, 0


def readn(c, n):
    """n bytes from socket c, or None at EOF"""
    b = b""
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            return None
        b += x
    return b


def read_record(c):
    """(type, request id, content) of the next record, or None at EOF"""
    h = readn(c, 8)
    if h is None:
        return None
    _, typ, rid, clen, plen = HDR.unpack(h)
    data = readn(c, clen) if clen else b""
    if plen:
        readn(c, plen)
    return typ, rid, data


def send(c, typ, rid, data=b""):
    pad = -len(data) % 8
    c.sendall(HDR.pack(1, typ, rid, len(data), pad) + data + b"\0" * pad)


def send_answer(c, rid, out):
    """out (CGI headers and body) as STDOUT records of 32 KB at most,
    the empty STDOUT, and END_REQUEST"""
    for i in range(0, len(out), 32768):
        send(c, STDOUT, rid, out[i:i + 32768])
    send(c, STDOUT, rid)
    send(c, END, rid, END_OK)


def nv_len(b, i):
    if b[i] < 128:
        return b[i], i + 1
    return struct.unpack("!I", b[i:i + 4])[0] & 0x7fffffff, i + 4


def nv_pairs(b):
    """the name-value pairs of a PARAMS stream, in order"""
    out, i = [], 0
    while i < len(b):
        n, i = nv_len(b, i)
        v, i = nv_len(b, i)
        out.append([b[i:i + n].decode("latin-1"),
                    b[i + n:i + n + v].decode("latin-1")])
        i += n + v
    return out


def nv_decode(b):
    return dict(nv_pairs(b))


def nv_encode(d):
    out = b""
    for k, v in d.items():
        k, v = k.encode(), v.encode()
        out += bytes([len(k), len(v)]) + k + v
    return out
