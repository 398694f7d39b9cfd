#!/usr/bin/env python3
"""Minimal GGUF v3 parser/re-writer used to derive small fuzz seeds from the demo model."""
import struct, sys
SZ = {0:1,1:1,2:2,3:2,4:4,5:4,6:4,7:1,10:8,11:8,12:8}
FMT = {0:'<B',1:'<b',2:'<H',3:'<h',4:'<I',5:'<i',6:'<f',7:'<?',10:'<Q',11:'<q',12:'<d'}
class R:
    def __init__(s,b): s.b=b; s.p=0
    def u(s,f):
        v=struct.unpack_from(f,s.b,s.p)[0]; s.p+=struct.calcsize(f); return v
    def str(s):
        n=s.u('<Q'); v=s.b[s.p:s.p+n]; s.p+=n; return v
    def val(s,t):
        if t==8: return s.str()
        if t==9:
            et=s.u('<I'); n=s.u('<Q'); return (et,[s.val(et) for _ in range(n)])
        return s.u(FMT[t])
def parse(b):
    r=R(b); assert b[:4]==b'GGUF'; r.p=4
    ver=r.u('<I'); nt=r.u('<Q'); nk=r.u('<Q')
    kvs=[]
    for _ in range(nk):
        k=r.str(); t=r.u('<I'); kvs.append((k,t,r.val(t)))
    tis=[]
    for _ in range(nt):
        name=r.str(); nd=r.u('<I'); dims=[r.u('<Q') for _ in range(nd)]; tt=r.u('<I'); off=r.u('<Q')
        tis.append((name,dims,tt,off))
    align=32
    for k,t,v in kvs:
        if k==b'general.alignment': align=v
    hdr_end=r.p; data=(r.p+align-1)//align*align
    return ver,kvs,tis,hdr_end,data,align
class W:
    def __init__(s): s.b=bytearray()
    def p(s,f,v): s.b+=struct.pack(f,v)
    def str(s,v): s.p('<Q',len(v)); s.b+=v
    def val(s,t,v):
        if t==8: s.str(v)
        elif t==9:
            et,items=v; s.p('<I',et); s.p('<Q',len(items))
            for it in items: s.val(et,it)
        else: s.p(FMT[t],v)
def write(kvs,tensors,align=32):
    """tensors: list of (name,dims,type,bytes)"""
    w=W(); w.b+=b'GGUF'; w.p('<I',3); w.p('<Q',len(tensors)); w.p('<Q',len(kvs))
    for k,t,v in kvs: w.str(k); w.p('<I',t); w.val(t,v)
    off=0; blobs=[]
    for name,dims,tt,data in tensors:
        w.str(name); w.p('<I',len(dims))
        for d in dims: w.p('<Q',d)
        w.p('<I',tt); w.p('<Q',off); blobs.append((off,data)); off=(off+len(data)+align-1)//align*align
    while len(w.b)%align: w.b+=b'\0'
    base=len(w.b)
    for o,d in blobs:
        while len(w.b)<base+o: w.b+=b'\0'
        w.b+=d
    return bytes(w.b)
if __name__=='__main__':
    b=open(sys.argv[1],'rb').read()
    ver,kvs,tis,he,data,align=parse(b)
    print('version',ver,'kvs',len(kvs),'tensors',len(tis),'header_end',he,'data_start',data,'align',align,'size',len(b))
    for k,t,v in kvs:
        s = f'array(type={v[0]}, n={len(v[1])})' if t==9 else repr(v)[:80]
        print(' kv',k.decode(),t,s)
    for ti in tis: print(' tensor',ti)
