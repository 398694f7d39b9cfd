import socket, time
ss=[]
for i in range(5):
    s=socket.create_connection(("127.0.0.1",27180)); ss.append(s); time.sleep(0.05)
time.sleep(0.3)
for i,s in enumerate(ss):
    s.settimeout(3)
    t=time.time()
    try:
        s.send(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-bob\r\n\r\n")
        print(i, s.recv(200)[:60], round(time.time()-t,2))
    except Exception as e: print(i, "exc", e)
