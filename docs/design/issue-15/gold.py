# Derivation of the minimal live MJPEG Matroska golden bytes (research aid; not project code).
def vint_size(n):
    # shortest EBML size vint for n (all-ones reserved)
    for L in range(1,9):
        if n < (1 << (7*L)) - 1:
            return bytes([(1 << (8-L)) >> 0 | 0]) if False else ((1 << (7*L)) | n).to_bytes(L,'big')
    raise ValueError
def el(idb, payload): return idb + vint_size(len(payload)) + payload
def uint(v):
    n = max(1,(v.bit_length()+7)//8); return v.to_bytes(n,'big')
UNK8 = bytes.fromhex('01ffffffffffffff')
ebml = el(bytes.fromhex('1a45dfa3'),
  el(b'\x42\x86',uint(1)) + el(b'\x42\xf7',uint(1)) + el(b'\x42\xf2',uint(4)) + el(b'\x42\xf3',uint(8)) +
  el(b'\x42\x82',b'matroska') + el(b'\x42\x87',uint(4)) + el(b'\x42\x85',uint(2)))
info = el(bytes.fromhex('1549a966'),
  el(bytes.fromhex('2ad7b1'),uint(1000000)) + el(b'\x4d\x80',b'camwire') + el(b'\x57\x41',b'camwire'))
video = el(b'\xe0', el(b'\xb0',uint(640)) + el(b'\xba',uint(480)))
entry = el(b'\xae', el(b'\xd7',uint(1)) + el(b'\x73\xc5',uint(1)) + el(b'\x83',uint(1)) +
  el(b'\x9c',uint(0)) + el(b'\x86',b'V_MJPEG') + video)
tracks = el(bytes.fromhex('1654ae6b'), entry)
block = el(b'\xa3', b'\x81' + (0).to_bytes(2,'big',signed=True) + b'\x80' + b'\xff\xd8')
cluster = bytes.fromhex('1f43b675') + UNK8 + el(b'\xe7',uint(0)) + block
seg = bytes.fromhex('18538067') + UNK8 + info + tracks + cluster
f = ebml + seg
open('/tmp/s15/min.mkv','wb').write(f)
def dump(name,b):
    print(f'{name} ({len(b)} B): ' + b.hex(' '))
dump('EBML header',ebml); dump('Segment hdr',bytes.fromhex('18538067')+UNK8); dump('Info',info); dump('Tracks',tracks)
dump('Cluster',cluster); print('total',len(f)); print(f.hex())
