import sys
MASTERS={0x1a45dfa3,0x18538067,0x1549a966,0x1654ae6b,0xae,0xe0,0x1f43b675}
def rd_id(b,i):
    f=b[i]; L=next(k for k in range(1,5) if f & (0x80>>(k-1))); return int.from_bytes(b[i:i+L],'big'),i+L
def rd_sz(b,i):
    f=b[i]; L=next(k for k in range(1,9) if f & (0x80>>(k-1)))
    v=int.from_bytes(b[i:i+L],'big') & ((1<<(7*L))-1); return (None if v==(1<<(7*L))-1 else v),i+L
def walk(b,i,end,depth):
    while i<end:
        try:
            eid,j=rd_id(b,i); sz,k=rd_sz(b,j)
        except (StopIteration,IndexError): print('  '*depth+f'@{i}: truncated header'); return len(b)
        if eid==0x1f43b675 and depth>1: return i   # unknown-size cluster ends at next cluster
        print('  '*depth+f'@{i} id={eid:x} size={"unknown" if sz is None else sz}')
        if eid in MASTERS:
            i = walk(b,k,end if sz is None else k+sz,depth+1)
        else:
            if k+sz>len(b): print('  '*depth+f'   element runs past EOF ({len(b)-k}/{sz} bytes)'); return len(b)
            i=k+sz
    return i
b=open(sys.argv[1],'rb').read()[:int(sys.argv[2]) if len(sys.argv)>2 else None]
walk(b,0,len(b),0)
