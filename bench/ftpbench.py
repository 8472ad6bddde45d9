#!/usr/bin/env python3
"""ferroftp benchmark driver: ferroftp vs vsftpd vs pyftpdlib (plain FTP) and ferroftp vs
vsftpd vs pure-ftpd (explicit FTPS), side by side, same run.

Stdlib only. Loopback only (127.0.0.1). Every loop is bounded by a count and a deadline.
Usually started by bench/run.sh, which builds ferroftp and installs the other servers.

Metrics, each against every server that could be started:
  retr      RETR of a SIZE file, MB/s (10^6 B/s), best of 3; data read with recv_into a
            1 MiB bytearray and discarded (ftplib's callback path is too slow)
  stor      STOR of a SIZE file, MB/s, best of 3; client sends with socket.sendfile
  idle      RSS of N logged-in idle control connections: (RSS_N - RSS_0) / N, KiB/session
  greet     connections/s: connect, read the 220 greeting, close (RST); 2 client processes, ~3 s
  small     2,000 STORs of 4 KiB on one session, files/s
plus the ceiling: raw loopback TCP with the same Python client (a Python process doing
os.sendfile of the same cached file into a socket), and iperf3 if installed.
FTPS (AUTH TLS, PBSZ 0, PROT P; data connections resume the control connection's session):
  retr/stor over TLS (best of --tls-rounds), small files over TLS (TCP_NODELAY on data
  sockets, plus a short probe with Nagle on), and a TLS ceiling: Python ssl on both ends.
"""
import argparse
import ftplib
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HOST = "127.0.0.1"
MIB = 1024 * 1024
RECV_BUF = MIB
SOCK_TIMEOUT = 60.0
HERE = os.path.dirname(os.path.abspath(__file__))


def log(*a):
    print("[bench]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc helpers

def proc_tree(root_pid):
    """root_pid and all its descendants (vsftpd forks one or two processes per session)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may contain spaces/parens: split after the last ')'
        rest = stat[stat.rfind(")") + 2:].split()
        ppid = int(rest[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root_pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def mem_kib(pids):
    """(sum of VmRSS, sum of Pss) in KiB over pids; Pss splits shared pages fairly."""
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root_pid):
    """User+system CPU of a server's process tree (threads included; reaped children too)."""
    total = 0
    for p in proc_tree(root_pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields 14-17 (utime stime cutime cstime) are rest[11:15]
        total += sum(int(x) for x in rest[11:15])
    return total / CLK_TCK


def threads_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_for_line(path, pattern, proc, timeout=30.0):
    """Poll a log file for a regex; returns the match. Bounded by timeout."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern, re.M)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with open(path, errors="replace") as f:
                m = rx.search(f.read())
            if m:
                return m
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server did not print {pattern!r} (exit={proc.poll()}); see {path}")


def wait_port(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as s:
                s.settimeout(5.0)
                s.recv(256)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on {HOST}:{port}")


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- servers

class Server:
    name = "?"
    user = password = None
    proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid


class Ferroftp(Server):
    def __init__(self, binary, work, bigfile, fsync=False, label="ferroftp"):
        self.name = label
        self.binary = binary
        self.dir = os.path.join(work, label)
        self.bigfile = bigfile
        self.fsync = fsync
        self.user, self.password = "bench", "bench-pass-1"

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "ferroftp.toml"), "w") as f:
            f.write(
                f"fsync_uploads = {'true' if self.fsync else 'false'}\n"
                "max_sessions = 1200\nmax_per_ip = 2000\nidle_timeout = 600\nbcrypt_cost = 4\n"
            )
        r = subprocess.run(
            [self.binary, "user", "add", self.user, "--password-stdin", "--dir", self.dir],
            input=self.password + "\n", text=True, capture_output=True, timeout=60,
        )
        if r.returncode != 0 and "exists" not in (r.stderr + r.stdout):
            raise RuntimeError(f"ferroftp user add failed: {r.stderr.strip()}")
        home = os.path.join(self.dir, "server_storage", self.user)
        os.makedirs(home, exist_ok=True)
        link_into(self.bigfile, os.path.join(home, "big.bin"))
        self.out = os.path.join(self.dir, "serve.stdout")
        self.err = os.path.join(self.dir, "serve.stderr")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--dir", self.dir, "--listen", f"{HOST}:0"],
            stdout=open(self.out, "w"), stderr=open(self.err, "w"), stdin=subprocess.DEVNULL,
            env=env,
        )
        m = wait_for_line(self.out, r"^listening on 127\.0\.0\.1:(\d+)$", self.proc)
        self.port = int(m.group(1))
        wait_port(self.port)


class Vsftpd(Server):
    def __init__(self, binary, work, bigfile, user, password, tls=None):
        """tls: (cert.pem, key.pem) for an FTPS-only instance (a second vsftpd process)."""
        self.name = "vsftpd-tls" if tls else "vsftpd"
        self.binary = binary
        self.dir = os.path.join(work, self.name)
        self.bigfile = bigfile
        self.user, self.password = user, password
        self.tls_files = tls
        self.tls = bool(tls)

    def start(self):
        root = os.path.join(self.dir, "root")
        os.makedirs(root, exist_ok=True)
        link_into(self.bigfile, os.path.join(root, "big.bin"))
        shutil.chown(root, user=self.user)
        self.port = free_port()
        conf = os.path.join(self.dir, "vsftpd.conf")
        with open(conf, "w") as f:
            f.write("\n".join([
                "listen=YES", "listen_ipv6=NO", f"listen_address={HOST}",
                f"listen_port={self.port}", "background=NO",
                "anonymous_enable=NO", "local_enable=YES", "write_enable=YES",
                "local_umask=022", f"local_root={root}", "chroot_local_user=NO",
                "seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO",
                "max_clients=0", "max_per_ip=0", "idle_session_timeout=600",
                "data_connection_timeout=300", "pasv_enable=YES", "use_sendfile=YES",
                "xferlog_enable=YES", f"xferlog_file={self.dir}/xferlog",
                f"vsftpd_log_file={self.dir}/vsftpd.log", "dirmessage_enable=NO",
                "pam_service_name=vsftpd", "secure_chroot_dir=/var/run/vsftpd/empty",
            ] + self.ssl_lines() + [""]))
        os.makedirs("/var/run/vsftpd/empty", exist_ok=True)
        self.err = os.path.join(self.dir, "vsftpd.stderr")
        self.conf = conf
        self.proc = subprocess.Popen(
            [self.binary, conf], stdout=open(self.err, "w"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        wait_port(self.port)


    def ssl_lines(self):
        if not self.tls_files:
            return ["ssl_enable=NO"]
        cert, key = self.tls_files
        # FTPS required for login and data; data connections must resume the control
        # connection's TLS session (as ferroftp requires by default)
        return ["ssl_enable=YES", f"rsa_cert_file={cert}", f"rsa_private_key_file={key}",
                "force_local_data_ssl=YES", "force_local_logins_ssl=YES",
                "require_ssl_reuse=YES", "ssl_ciphers=HIGH", "allow_anon_ssl=NO"]


class TlsView(Server):
    """The same ferroftp process, measured over explicit FTPS (AUTH TLS, PBSZ 0, PROT P)."""
    tls = True

    def __init__(self, srv, name):
        self.srv, self.name = srv, name
        self.user, self.password = srv.user, srv.password

    @property
    def port(self):
        return self.srv.port

    @property
    def pid(self):
        return self.srv.pid

    def start(self):
        pass

    def stop(self):
        pass


class PureFtpd(Server):
    """pure-ftpd standalone on a loopback port, TLS required (-Y 2), one virtual user (PureDB)
    mapped to the same local account as vsftpd. FTPS only."""
    name = "pure-ftpd"
    tls = True

    def __init__(self, binary, pure_pw, work, bigfile, unix_user, cert, key):
        self.binary, self.pure_pw = binary, pure_pw
        self.dir = os.path.join(work, "pure-ftpd")
        self.bigfile = bigfile
        self.unix_user = unix_user
        self.cert, self.key = cert, key
        self.user, self.password = "bench", "bench-pass-1"

    def start(self):
        root = os.path.join(self.dir, "root")
        os.makedirs(root, exist_ok=True)
        link_into(self.bigfile, os.path.join(root, "big.bin"))
        shutil.chown(root, user=self.unix_user)
        pem = os.path.join(self.dir, "pure-ftpd.pem")  # key + certificate in one file
        with open(self.key) as k, open(self.cert) as c:
            body = k.read() + c.read()
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(body)
        passwd, pdb = os.path.join(self.dir, "pureftpd.passwd"), os.path.join(self.dir, "pureftpd.pdb")
        r = subprocess.run(
            [self.pure_pw, "useradd", self.user, "-u", self.unix_user, "-d", root,
             "-f", passwd, "-F", pdb, "-m"],
            input=f"{self.password}\n{self.password}\n", text=True, capture_output=True,
            timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"pure-pw useradd failed: {(r.stderr or r.stdout).strip()}")
        self.port = free_port()
        self.err = os.path.join(self.dir, "pure-ftpd.stderr")
        self.proc = subprocess.Popen(
            [self.binary, "-S", f"{HOST},{self.port}", "-l", f"puredb:{pdb}", "-E", "-H",
             "-A", "-u", "1", "-Y", "2", "-2", pem, "-c", "200", "-C", "200", "-I", "600",
             "-k", "100", "-f", "none", "-4"],
            stdout=open(self.err, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_port(self.port)


class Pyftpdlib(Server):
    name = "pyftpdlib"

    def __init__(self, work, bigfile):
        self.dir = os.path.join(work, "pyftpdlib")
        self.bigfile = bigfile
        self.user, self.password = "bench", "bench-pass-1"

    def start(self):
        root = os.path.join(self.dir, "root")
        os.makedirs(root, exist_ok=True)
        link_into(self.bigfile, os.path.join(root, "big.bin"))
        self.out = os.path.join(self.dir, "serve.stdout")
        self.err = os.path.join(self.dir, "serve.stderr")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "pyftpd_server.py"), root, self.user,
             self.password],
            stdout=open(self.out, "w"), stderr=open(self.err, "w"), stdin=subprocess.DEVNULL,
        )
        m = wait_for_line(self.out, r"^listening on 127\.0\.0\.1:(\d+)$", self.proc)
        self.port = int(m.group(1))
        wait_port(self.port)


def link_into(src, dst):
    if os.path.exists(dst):
        os.unlink(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


# ---------------------------------------------------------------- client helpers

def settle():
    """Flush dirty pages left by the previous test so its writeback does not slow the next."""
    os.sync()
    time.sleep(0.5)


def client_tls_context():
    """Self-signed server certificates: no verification (loopback benchmark only)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ReuseFTP_TLS(ftplib.FTP_TLS):
    """ftplib.FTP_TLS whose protected data connections resume the control connection's TLS
    session, as ferroftp (and vsftpd's require_ssl_reuse) require; stock FTP_TLS does not.
    nodelay: TCP_NODELAY on data connections (curl's default; ftplib's is Nagle on)."""
    nodelay = True

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self.nodelay:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size


def login(srv, nodelay=True):
    """A logged-in session in binary mode; explicit FTPS (AUTH TLS, PBSZ 0, PROT P) when the
    server is an FTPS one."""
    if getattr(srv, "tls", False):
        ftp = ReuseFTP_TLS(context=client_tls_context())
        ftp.nodelay = nodelay
        ftp.connect(HOST, srv.port, timeout=SOCK_TIMEOUT)
        ftp.auth()
        ftp.login(srv.user, srv.password)
        ftp.prot_p()
    else:
        ftp = ftplib.FTP()
        ftp.connect(HOST, srv.port, timeout=SOCK_TIMEOUT)
        ftp.login(srv.user, srv.password)
    ftp.voidcmd("TYPE I")
    return ftp


def close_data(conn):
    """Close a data connection; a TLS one with close_notify first, like ftplib does (the
    server may wait for it to tell a complete upload from a truncated one)."""
    if isinstance(conn, ssl.SSLSocket):
        try:
            conn.settimeout(10.0)
            conn.unwrap()
        except (OSError, ValueError):
            pass
    conn.close()


def send_file(conn, path):
    """Upload body: sendfile(2) on plain TCP; on TLS (where socket.sendfile falls back to
    8 KiB sends) the file goes through one 1 MiB buffer."""
    with open(path, "rb") as f:
        if not isinstance(conn, ssl.SSLSocket):
            conn.sendfile(f)
            return
        buf = bytearray(RECV_BUF)
        mv = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            conn.sendall(mv[:n])


def drain(sock, expected):
    buf = bytearray(RECV_BUF)
    mv = memoryview(buf)
    got = 0
    while True:
        n = sock.recv_into(mv)
        if n == 0:
            break
        got += n
        if got > expected + RECV_BUF:  # bounded: never read forever
            break
    return got


def client_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def measure_retr(srv, size, runs=3, name="big.bin"):
    """(best MB/s, least server CPU seconds per GiB, client CPU busy fraction in the best run)."""
    best, cpu, busy = 0.0, None, None
    ftp = login(srv)
    try:
        for _ in range(runs):
            c0, k0 = cpu_seconds(srv.pid), client_cpu()
            t0 = time.perf_counter()
            conn = ftp.transfercmd(f"RETR {name}")
            got = drain(conn, size)
            close_data(conn)
            ftp.voidresp()
            dt = time.perf_counter() - t0
            c1, k1 = cpu_seconds(srv.pid), client_cpu()
            if got != size:
                raise RuntimeError(f"RETR got {got} bytes, expected {size}")
            if size / dt / 1e6 > best:
                best, busy = size / dt / 1e6, (k1 - k0) / dt
            per_gib = (c1 - c0) * (1 << 30) / size
            cpu = per_gib if cpu is None else min(cpu, per_gib)
    finally:
        quit_quietly(ftp)
    return best, cpu, busy


def measure_stor(srv, bigfile, size, runs=3):
    """(best MB/s, least server CPU seconds per GiB) over runs."""
    best, cpu = 0.0, None
    ftp = login(srv)
    try:
        for i in range(runs):
            name = f"up{i}.bin"
            c0 = cpu_seconds(srv.pid)
            t0 = time.perf_counter()
            conn = ftp.transfercmd(f"STOR {name}")
            send_file(conn, bigfile)
            close_data(conn)
            ftp.voidresp()
            dt = time.perf_counter() - t0
            c1 = cpu_seconds(srv.pid)
            per_gib = (c1 - c0) * (1 << 30) / size
            cpu = per_gib if cpu is None else min(cpu, per_gib)
            got = ftp.size(name)
            if got != size:
                raise RuntimeError(f"STOR stored {got} bytes, expected {size}")
            ftp.delete(name)
            settle()
            best = max(best, size / dt / 1e6)
    finally:
        quit_quietly(ftp)
    return best, cpu


def quit_quietly(ftp):
    try:
        ftp.quit()
    except Exception:
        ftp.close()


def measure_idle(srv, n):
    # warm-up: one full session so lazy initialisation is in the baseline
    quit_quietly(login(srv))
    time.sleep(1.0)
    rss0, pss0 = mem_kib(proc_tree(srv.pid))
    sessions, errors = [], []
    lock = threading.Lock()

    def one(_):
        try:
            ftp = ftplib.FTP()
            ftp.connect(HOST, srv.port, timeout=SOCK_TIMEOUT)
            ftp.login(srv.user, srv.password)
            with lock:
                sessions.append(ftp)
        except Exception as e:  # noqa: BLE001 - counted and reported
            with lock:
                errors.append(repr(e))

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as ex:
        list(ex.map(one, range(n)))
    login_s = time.monotonic() - t0
    time.sleep(2.0)
    pids = proc_tree(srv.pid)
    rss1, pss1 = mem_kib(pids)
    nproc, nthreads = len(pids), sum(threads_of(p) for p in pids)
    ok = len(sessions)
    for ftp in sessions:
        ftp.close()
    time.sleep(1.0)
    res = {
        "sessions": ok, "errors": len(errors), "first_error": errors[0] if errors else None,
        "rss0_kib": rss0, "rss1_kib": rss1, "pss0_kib": pss0, "pss1_kib": pss1,
        "kib_per_session_rss": (rss1 - rss0) / ok if ok else None,
        "kib_per_session_pss": (pss1 - pss0) / ok if ok else None,
        "processes": nproc, "threads": nthreads, "login_seconds": login_s,
    }
    return res


def _greet_worker(port, seconds, max_count, q):
    count = errors = 0
    deadline = time.monotonic() + seconds
    linger = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")
    while time.monotonic() < deadline and count < max_count and errors < 100:
        try:
            s = socket.create_connection((HOST, port), timeout=10.0)
        except OSError:
            errors += 1
            continue
        try:
            data = b""
            while b"\r\n" not in data or not re.search(rb"(^|\r\n)220 [^\r\n]*\r\n", data):
                chunk = s.recv(1024)
                if not chunk or len(data) > 8192:
                    raise OSError("no 220 greeting")
                data += chunk
            count += 1
        except OSError:
            errors += 1
        finally:
            # RST on close: no TIME_WAIT pile-up eating the ephemeral port range
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.close()
    q.put((count, errors))


def measure_greet(srv, seconds=3.0, procs=2):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    ps = [ctx.Process(target=_greet_worker, args=(srv.port, seconds, 200_000, q))
          for _ in range(procs)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    results = [q.get(timeout=seconds + 60) for _ in ps]
    dt = time.perf_counter() - t0
    for p in ps:
        p.join(timeout=10)
    total = sum(c for c, _ in results)
    errs = sum(e for _, e in results)
    return total / dt, errs


def measure_small(srv, count=2000, size=4096, dirname="small", nodelay=True):
    payload = os.urandom(size)
    ftp = login(srv, nodelay=nodelay)
    try:
        ftp.mkd(dirname)
        ftp.cwd(dirname)
        t0 = time.perf_counter()
        for i in range(count):
            conn = ftp.transfercmd(f"STOR f{i:05d}.bin")
            conn.sendall(payload)
            close_data(conn)
            ftp.voidresp()
        dt = time.perf_counter() - t0
        names = [n for n in ftp.nlst() if os.path.basename(n).startswith("f")]  # no . and ..
        if len(names) != count:
            raise RuntimeError(f"small files: {len(names)} listed, expected {count}")
    finally:
        quit_quietly(ftp)
    return count / dt


# ---------------------------------------------------------------- ceilings

def _raw_sender(path, q):
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    q.put(ls.getsockname()[1])
    ls.settimeout(30)
    c, _ = ls.accept()
    with open(path, "rb") as f:
        c.sendfile(f)  # os.sendfile under the hood
    c.close()
    ls.close()


def _raw_receiver(q):
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    q.put(ls.getsockname()[1])
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(SOCK_TIMEOUT)
    q.put(drain(c, 1 << 40))
    c.close()
    ls.close()


def measure_raw(bigfile, size, runs=3):
    """Raw loopback TCP with the benchmark's own client code: the ceiling any server can reach
    with this client. Separate server process, like a real server."""
    ctx = multiprocessing.get_context("fork")
    down = up = 0.0
    down_busy = None
    for _ in range(runs):
        q = ctx.Queue()
        p = ctx.Process(target=_raw_sender, args=(bigfile, q))
        p.start()
        port = q.get(timeout=30)
        t0, k0 = time.perf_counter(), client_cpu()
        s = socket.create_connection((HOST, port), timeout=SOCK_TIMEOUT)
        got = drain(s, size)
        dt, k1 = time.perf_counter() - t0, client_cpu()
        s.close()
        p.join(timeout=30)
        if got == size and size / dt / 1e6 > down:
            down, down_busy = size / dt / 1e6, (k1 - k0) / dt
        q = ctx.Queue()
        p = ctx.Process(target=_raw_receiver, args=(q,))
        p.start()
        port = q.get(timeout=30)
        t0 = time.perf_counter()
        s = socket.create_connection((HOST, port), timeout=SOCK_TIMEOUT)
        with open(bigfile, "rb") as f:
            s.sendfile(f)
        s.shutdown(socket.SHUT_WR)
        got = q.get(timeout=120)
        dt = time.perf_counter() - t0
        s.close()
        p.join(timeout=30)
        if got == size:
            up = max(up, size / dt / 1e6)
    return down, up, down_busy


def _tls_server_ctx(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def _raw_tls_sender(path, cert, key, q):
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    q.put(ls.getsockname()[1])
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(SOCK_TIMEOUT)
    t = _tls_server_ctx(cert, key).wrap_socket(c, server_side=True)
    send_file(t, path)
    close_data(t)
    ls.close()


def _raw_tls_receiver(cert, key, q):
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    q.put(ls.getsockname()[1])
    ls.settimeout(30)
    c, _ = ls.accept()
    c.settimeout(SOCK_TIMEOUT)
    t = _tls_server_ctx(cert, key).wrap_socket(c, server_side=True)
    q.put(drain(t, 1 << 40))
    close_data(t)
    ls.close()


def measure_raw_tls(bigfile, size, cert, key):
    """TLS over loopback with Python's ssl (OpenSSL) on both ends, the same client code as
    the FTPS tests and a separate server process: what this client can reach with no FTP
    server in the way. Returns (down MB/s, up MB/s, client busy down, cipher)."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_raw_tls_sender, args=(bigfile, cert, key, q))
    p.start()
    port = q.get(timeout=30)
    t0, k0 = time.perf_counter(), client_cpu()
    s = client_tls_context().wrap_socket(
        socket.create_connection((HOST, port), timeout=SOCK_TIMEOUT))
    cipher = s.cipher()[0] + " " + s.version()
    got = drain(s, size)
    dt, k1 = time.perf_counter() - t0, client_cpu()
    close_data(s)
    p.join(timeout=30)
    down = size / dt / 1e6 if got == size else None
    busy = (k1 - k0) / dt
    q = ctx.Queue()
    p = ctx.Process(target=_raw_tls_receiver, args=(cert, key, q))
    p.start()
    port = q.get(timeout=30)
    t0 = time.perf_counter()
    s = client_tls_context().wrap_socket(
        socket.create_connection((HOST, port), timeout=SOCK_TIMEOUT))
    send_file(s, bigfile)
    close_data(s)
    got = q.get(timeout=120)
    dt = time.perf_counter() - t0
    p.join(timeout=30)
    up = size / dt / 1e6 if got == size else None
    return down, up, busy, cipher


def measure_iperf3(seconds=3):
    exe = shutil.which("iperf3")
    if not exe:
        return None
    port = free_port()
    srv = subprocess.Popen([exe, "-s", "-1", "-B", HOST, "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        r = subprocess.run([exe, "-c", HOST, "-p", str(port), "-t", str(seconds), "-J"],
                           capture_output=True, text=True, timeout=seconds + 30)
        data = json.loads(r.stdout)
        return data["end"]["sum_received"]["bits_per_second"] / 8 / 1e6
    except Exception as e:  # noqa: BLE001
        log("iperf3 failed:", e)
        return None
    finally:
        if srv.poll() is None:
            srv.terminate()
        srv.wait(timeout=10)


# ---------------------------------------------------------------- strace check

STRACE_LINE = re.compile(r"^(?:(\d+)\s+)?(.*)$")
STRACE_STR = re.compile(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?')
STRACE_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)")
# which argument (0-based) is the requested byte count
SIZE_ARG = {"read": 2, "write": 2, "recvfrom": 2, "sendto": 2, "sendfile": 3,
            "copy_file_range": 5, "splice": 4, "writev": 2, "readv": 2}
# for writev/readv the "requested" figure is the iovec count (TLS records per call)


def strace_summary(path):
    """{syscall: {"calls", "bytes", "sizes": {requested: calls}}} for byte-moving calls.
    Joins strace -f's `<unfinished ...>` / `<... resumed>` halves."""
    out, pending = {}, {}
    with open(path, errors="replace") as f:
        for raw in f:
            pid, text = STRACE_LINE.match(raw.rstrip("\n")).groups()
            text = STRACE_STR.sub("S", text)
            if text.endswith("<unfinished ...>"):
                pending[pid] = text[: -len("<unfinished ...>")].rstrip()
                continue
            m = re.match(r"^<\.\.\. \w+ resumed>\s?(.*)$", text)
            if m:
                text = pending.pop(pid, "") + m.group(1)
            m = STRACE_CALL.match(text)
            if m and m.group(1) not in SIZE_ARG:  # poll & co: calls only
                d = out.setdefault(m.group(1), {"calls": 0, "bytes": 0, "sizes": {}})
                d["calls"] += 1
                continue
            if not m:
                continue
            name, ret = m.group(1), int(m.group(3))
            args = [a.strip() for a in re.sub(r"\[[^\]]*\]", "V", m.group(2)).split(",")]
            try:
                req = int(args[SIZE_ARG[name]])
            except (IndexError, ValueError):
                continue
            if ret <= 0:
                continue
            d = out.setdefault(name, {"calls": 0, "bytes": 0, "sizes": {}})
            d["calls"] += 1
            d["bytes"] += ret
            d["sizes"][req] = d["sizes"].get(req, 0) + 1
    return out


def strace_check(srv, midfile, size, work):
    """Attach strace to the server during one RETR and one STOR and report which syscalls
    moved the bytes, and with what buffer sizes (plus how many polls went with them)."""
    exe = shutil.which("strace")
    if not exe:
        return None
    res = {}
    for what in ("retr", "stor"):
        out = os.path.join(work, f"strace-{srv.name}-{what}.txt")
        st = subprocess.Popen(
            [exe, "-f", "-qq", "-o", out, "-e",
             "trace=sendfile,copy_file_range,splice,read,write,readv,writev,recvfrom,sendto,"
             "recvmsg,sendmsg,poll,ppoll", "-e", "signal=none", "-p", str(srv.pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3.0)  # attach to every thread of the pool
        try:
            if what == "retr":
                measure_retr(srv, size, runs=1, name=os.path.basename(midfile))
            else:
                measure_stor(srv, midfile, size, runs=1)
        except Exception as e:  # noqa: BLE001
            res[what] = {"error": repr(e)}
        finally:
            st.send_signal(signal.SIGINT)
            try:
                st.wait(timeout=30)
            except subprocess.TimeoutExpired:
                st.kill()
                st.wait(timeout=10)
        if what not in res:
            s = strace_summary(out)
            res[what] = {k: v for k, v in s.items()
                         if v["bytes"] >= size // 100 or (not v["bytes"] and v["calls"] >= 100)}
    return res


# ---------------------------------------------------------------- main

def fmt(v, kind):
    if v is None:
        return "-"
    if kind == "mbs":
        return f"{v:,.0f}"
    if kind == "rate":
        return f"{v:,.0f}"
    if kind == "mib":
        return f"{v / 1024:,.1f}"
    if kind == "cpu":
        return f"{v:.2f}"
    if kind == "kib":
        return f"{v:,.1f}"
    return str(v)


def guarded(results, srv, what, fn, *a, **kw):
    """Run one measurement; a failure is recorded for that server and the run goes on."""
    r = results["servers"].setdefault(srv.name, {})
    if r.get("error"):
        return None
    try:
        return fn(*a, **kw)
    except Exception as e:  # noqa: BLE001
        r["error"] = f"{what}: {e!r}"
        log(f"{srv.name}: {what} FAILED: {e!r}")
        return None


def run_all(live, results, args, bigfile, size, work):
    res = results["servers"]
    tls_servers = [s for s in live if getattr(s, "tls", False)]
    live = [s for s in live if not getattr(s, "tls", False)]  # plain FTP
    main_servers = [s for s in live if s.name != "ferroftp-fsync"]
    for srv in main_servers:
        settle()
        r = guarded(results, srv, "idle", measure_idle, srv, args.sessions)
        if r:
            res[srv.name]["idle"] = r
            log(f"{srv.name}: idle {r['kib_per_session_rss']:.1f} KiB/session RSS "
                f"({r['sessions']} sessions, {r['errors']} failed)")

    def rounds(name, servers, n, fn, keep):
        """n rounds, each over every server in turn; keep(srv, sample) folds the result."""
        for i in range(n):
            for srv in servers:
                settle()
                v = guarded(results, srv, name, fn, srv)
                if v is not None:
                    keep(srv, v)
                    log(f"{srv.name}: {name} round {i + 1}: {v}")

    def keep_xfer(key):
        def keep(srv, v):
            r = res[srv.name]
            r.setdefault(key + "_samples", []).append(v[0])
            r[key + "_mbs"] = max(r.get(key + "_mbs") or 0, v[0])
            if v[1] is not None:  # CPU is sampled in clock ticks: the median is steadier
                cpu = r.setdefault(key + "_cpu_samples", [])
                cpu.append(v[1])
                r[key + "_cpu_s_per_gib"] = sorted(cpu)[len(cpu) // 2]
            if key == "retr" and v[0] == r["retr_mbs"]:
                r["retr_client_busy"] = v[2]
        return keep

    def keep_max(key):
        def keep(srv, v):
            r = res[srv.name]
            v = v[0] if isinstance(v, tuple) else v
            r.setdefault(key + "_samples", []).append(v)
            r[key] = max(r.get(key) or 0, v)
        return keep

    class Raw:  # the raw-TCP ceiling takes its turn in the RETR rounds like a server
        name = "raw"

    c = results["ceiling"]

    def raw(_):
        down, up, busy = measure_raw(bigfile, size, runs=1)
        if down > (c.get("raw_python_down_mbs") or 0):
            c["raw_python_down_mbs"], c["raw_python_down_client_busy"] = down, busy
        c["raw_python_up_mbs"] = max(c.get("raw_python_up_mbs") or 0, up)
        return down, up

    for i in range(args.rounds):
        rounds("raw TCP", [Raw()], 1, raw, lambda s, v: None)
        rounds("RETR", main_servers, 1, lambda s: measure_retr(s, size, runs=1),
               keep_xfer("retr"))
    rounds("STOR", live, args.rounds, lambda s: measure_stor(s, bigfile, size, runs=1),
           keep_xfer("stor"))
    rounds("greet", main_servers, 2, measure_greet, keep_max("greet_per_s"))
    counter = iter(range(10**6))
    rounds("small", live, 3,
           lambda s: measure_small(s, args.small_files, dirname=f"small{next(counter)}"),
           keep_max("small_per_s"))
    # ---- FTPS: ferroftp (same process), vsftpd-tls, pure-ftpd; interleaved like above, with
    # the raw-TLS ceiling taking its turn in the RETR/STOR rounds
    tls_keys = getattr(args, "tls_keys", None)

    class RawTls:
        name = "raw-tls"

    def raw_tls(_):
        down, up, busy, cipher = measure_raw_tls(bigfile, size, *tls_keys)
        if down and down > (c.get("raw_tls_down_mbs") or 0):
            c["raw_tls_down_mbs"], c["raw_tls_down_client_busy"] = down, busy
        if up:
            c["raw_tls_up_mbs"] = max(c.get("raw_tls_up_mbs") or 0, up)
        c["raw_tls_cipher"] = cipher
        return down, up

    def cipher_of(srv):
        ftp = login(srv)
        try:
            return f"{ftp.sock.cipher()[0]} {ftp.sock.version()}"
        finally:
            quit_quietly(ftp)

    for srv in tls_servers:
        v = guarded(results, srv, "FTPS login", cipher_of, srv)
        if v:
            res[srv.name]["cipher"] = v
            log(f"{srv.name}: FTPS control connection {v}")
    tls_servers = [s for s in tls_servers if not res[s.name].get("error")]
    if tls_servers and args.tls_rounds:
        for i in range(args.tls_rounds):
            if tls_keys:
                rounds("raw TLS", [RawTls()], 1, raw_tls, lambda s, v: None)
            rounds("FTPS RETR", tls_servers, 1, lambda s: measure_retr(s, size, runs=1),
                   keep_xfer("retr"))
            rounds("FTPS STOR", tls_servers, 1,
                   lambda s: measure_stor(s, bigfile, size, runs=1), keep_xfer("stor"))
        rounds("FTPS small", tls_servers, 2,
               lambda s: measure_small(s, args.small_files, dirname=f"small{next(counter)}"),
               keep_max("small_per_s"))
        if args.nagle_files:
            # ftplib's own data sockets keep Nagle on: a TLS upload then waits for the
            # server's (delayed) ACK of the client's Finished before its data goes out
            rounds("FTPS small, Nagle on", tls_servers, 1,
                   lambda s: measure_small(s, args.nagle_files, nodelay=False,
                                           dirname=f"small{next(counter)}"),
                   keep_max("small_nagle_per_s"))

    ferro = next((s for s in main_servers if s.name == "ferroftp"), None)
    if ferro and not args.no_strace:
        mid = os.path.join(ferro.dir, "server_storage", ferro.user, "mid.bin")
        with open(bigfile, "rb") as src, open(mid, "wb") as dst:
            dst.write(src.read(min(size, 256 * MIB)))
        st = guarded(results, ferro, "strace", strace_check, ferro, mid, min(size, 256 * MIB),
                     work)
        if st:
            res["ferroftp"]["strace"] = st
        ftls = next((s for s in tls_servers if s.name == "ferroftp-tls"), None)
        if ftls:
            st = guarded(results, ftls, "strace", strace_check, ftls, mid,
                         min(size, 256 * MIB), work)
            if st:
                res[ftls.name]["strace"] = st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ferroftp", required=True)
    ap.add_argument("--vsftpd", default=shutil.which("vsftpd") or "/usr/sbin/vsftpd")
    ap.add_argument("--vsftpd-user", default=os.environ.get("BENCH_VSFTPD_USER"))
    ap.add_argument("--vsftpd-password", default=os.environ.get("BENCH_VSFTPD_PASSWORD"))
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--small-files", type=int, default=2000)
    ap.add_argument("--servers", default="ferroftp,vsftpd,pyftpdlib,pure-ftpd")
    ap.add_argument("--rounds", type=int, default=5, help="RETR/STOR rounds (best is kept)")
    ap.add_argument("--tls-rounds", type=int, default=3,
                    help="FTPS RETR/STOR rounds (0: no FTPS tests)")
    ap.add_argument("--nagle-files", type=int, default=100,
                    help="FTPS small-file probe with Nagle on (ftplib's default); 0: skip")
    ap.add_argument("--pure-ftpd", default=os.environ.get("BENCH_PURE_FTPD")
                    or shutil.which("pure-ftpd") or "/usr/sbin/pure-ftpd")
    ap.add_argument("--pure-pw", default=os.environ.get("BENCH_PURE_PW")
                    or shutil.which("pure-pw") or "/usr/bin/pure-pw")
    ap.add_argument("--no-strace", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results-latest.txt"))
    ap.add_argument("--json", default=os.path.join(HERE, "results-latest.json"))
    args = ap.parse_args()

    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("bench")))
    signal.alarm(1500)  # the whole run is bounded

    size = args.size_mib * MIB
    work = tempfile.mkdtemp(prefix="ferroftp-bench-")
    os.chmod(work, 0o755)
    bigfile = os.path.join(work, "big.bin")
    log(f"work dir {work}; writing {args.size_mib} MiB test file")
    block = os.urandom(MIB)
    with open(bigfile, "wb") as f:
        for _ in range(args.size_mib):
            f.write(block)
    os.chmod(bigfile, 0o644)
    with open(bigfile, "rb") as f:  # into the page cache
        while f.read(8 * MIB):
            pass

    wanted = args.servers.split(",")
    results = {"ceiling": {}, "servers": {}, "notes": []}
    try:
        results["ceiling"]["iperf3_mbs"] = measure_iperf3()
        log(f"ceiling: iperf3 {results['ceiling']['iperf3_mbs']}")

        servers = []
        if "ferroftp" in wanted:
            servers.append(Ferroftp(args.ferroftp, work, bigfile, fsync=False))
        if "vsftpd" in wanted:
            if os.path.exists(args.vsftpd) and args.vsftpd_user and args.vsftpd_password:
                servers.append(Vsftpd(args.vsftpd, work, bigfile, args.vsftpd_user,
                                      args.vsftpd_password))
            else:
                results["notes"].append("vsftpd skipped (not installed or no bench user)")
        if "pyftpdlib" in wanted:
            try:
                import pyftpdlib  # noqa: F401
                servers.append(Pyftpdlib(work, bigfile))
            except ImportError:
                results["notes"].append("pyftpdlib skipped (not installed)")

        if "ferroftp" in wanted:
            servers.append(Ferroftp(args.ferroftp, work, bigfile, fsync=True,
                                    label="ferroftp-fsync"))
        # FTPS: ferroftp's own self-signed pair (ECDSA P-256, made on its first start) serves
        # vsftpd and pure-ftpd too, so every server does the same handshake arithmetic
        ferro = next((s for s in servers if s.name == "ferroftp"), None)
        if ferro and args.tls_rounds:
            certs = (os.path.join(ferro.dir, "certs", "cert.pem"),
                     os.path.join(ferro.dir, "certs", "key.pem"))
            args.tls_keys = certs
            servers.append(TlsView(ferro, "ferroftp-tls"))
            if "vsftpd" in wanted and any(s.name == "vsftpd" for s in servers):
                servers.append(Vsftpd(args.vsftpd, work, bigfile, args.vsftpd_user,
                                      args.vsftpd_password, tls=certs))
            if "pure-ftpd" in wanted:
                if (os.path.exists(args.pure_ftpd) and os.path.exists(args.pure_pw)
                        and args.vsftpd_user):
                    servers.append(PureFtpd(args.pure_ftpd, args.pure_pw, work, bigfile,
                                            args.vsftpd_user, *certs))
                else:
                    results["notes"].append("pure-ftpd skipped (not found, or no local "
                                            "account to map its virtual user to)")
        # All servers run at once; the transfer tests go round-robin over them, so the noise
        # of a shared machine hits every server alike. The idle-RSS test runs one server at a
        # time (the others are idle and do not change its RSS).
        live = []
        for srv in servers:
            r = results["servers"].setdefault(srv.name, {})
            try:
                srv.start()
                log(f"{srv.name}: pid {srv.pid}, port {srv.port}")
                live.append(srv)
            except Exception as e:  # noqa: BLE001 - one server failing must not end the run
                r["error"] = repr(e)
                log(f"{srv.name}: FAILED to start: {e!r}")
        try:
            run_all(live, results, args, bigfile, size, work)
            for raw in ("raw", "raw-tls"):
                err = results["servers"].pop(raw, {}).get("error")
                if err:
                    results["notes"].append(f"ceiling {raw} failed: {err}")
        finally:
            for srv in live:
                srv.stop()
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)

    text = render(results, args)
    print(text)
    with open(args.out, "w") as f:
        f.write(text)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2, default=str)


TARGETS = {
    "retr": "vsftpd 2,400",
    "small": "pure-ftpd 2,700",
    "greet": "unFTP 9,000",
    "idlemib": "pyftpdlib 41 MB/1000",
    "idle": "< 100",
    "ftps_retr": "pure-ftpd ~900",
    "ftps_small": "pure-ftpd 2,700",
}

COLUMNS = ["ferroftp", "vsftpd", "pyftpdlib", "pure-ftpd"]
PLAIN = {"ferroftp": "ferroftp", "vsftpd": "vsftpd", "pyftpdlib": "pyftpdlib"}
FTPS = {"ferroftp": "ferroftp-tls", "vsftpd": "vsftpd-tls", "pure-ftpd": "pure-ftpd"}


def render(results, args):
    s = results["servers"]

    def get(name, *path):
        v = s.get(name, {}) if name else {}
        for p in path:
            if not isinstance(v, dict):
                return None
            v = v.get(p)
        return v

    sz = f"{args.size_mib // 1024} GiB" if args.size_mib % 1024 == 0 else f"{args.size_mib} MiB"
    rows = [
        (PLAIN, f"RETR {sz}, MB/s (best of {args.rounds})", "retr", "mbs", ("retr_mbs",), True),
        (PLAIN, "  server CPU s/GiB sent (median)", None, "cpu", ("retr_cpu_s_per_gib",), False),
        (PLAIN, "  client CPU busy (1.00 = one core)", None, "cpu", ("retr_client_busy",), None),
        (PLAIN, f"STOR {sz}, MB/s (best of {args.rounds})", None, "mbs", ("stor_mbs",), True),
        (PLAIN, "  server CPU s/GiB received (median)", None, "cpu", ("stor_cpu_s_per_gib",), False),
        (PLAIN, f"RSS with {args.sessions} idle sessions, MiB", "idlemib", "mib", ("idle", "rss1_kib"), False),
        (PLAIN, "idle session, KiB RSS each", "idle", "kib", ("idle", "kib_per_session_rss"), False),
        (PLAIN, "idle session, KiB PSS each", None, "kib", ("idle", "kib_per_session_pss"), False),
        (PLAIN, "greetings (connect+220+close)/s", "greet", "rate", ("greet_per_s",), True),
        (PLAIN, "small files 4 KiB STOR/s", "small", "rate", ("small_per_s",), True),
        (FTPS, f"FTPS RETR {sz}, MB/s (best of {args.tls_rounds})", "ftps_retr", "mbs", ("retr_mbs",), True),
        (FTPS, "  server CPU s/GiB sent (median)", None, "cpu", ("retr_cpu_s_per_gib",), False),
        (FTPS, "  client CPU busy (1.00 = one core)", None, "cpu", ("retr_client_busy",), None),
        (FTPS, f"FTPS STOR {sz}, MB/s (best of {args.tls_rounds})", None, "mbs", ("stor_mbs",), True),
        (FTPS, "  server CPU s/GiB received (median)", None, "cpu", ("stor_cpu_s_per_gib",), False),
        (FTPS, "FTPS small files 4 KiB STOR/s", "ftps_small", "rate", ("small_per_s",), True),
        (FTPS, f"  same, Nagle on ({args.nagle_files} files)", None, "rate", ("small_nagle_per_s",), True),
    ]
    head = (f"{'metric':36} " + " ".join(f"{c:>10}" for c in COLUMNS)
            + f" {'ratio':>7}  target")
    lines = [
        f"ferroftp benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}, "
        f"{os.uname().nodename} {os.uname().release}, {os.cpu_count()} CPUs; "
        f"file {args.size_mib} MiB, {args.sessions} idle sessions, "
        f"{args.small_files} small files; MB = 10^6 bytes",
        "ratio = ferroftp / best other (higher is better, except CPU and KiB rows: lower is better)",
        "FTPS rows: explicit TLS (AUTH TLS, PBSZ 0, PROT P), data connections resume the control"
        " session; vsftpd column = a second vsftpd with ssl_enable=YES; pure-ftpd: FTPS only (-Y 2)",
        "",
        head,
        "-" * len(head),
    ]
    for which, label, tkey, kind, path, higher in rows:
        vals = [get(which.get(c), *path) if which.get(c) else None for c in COLUMNS]
        others = [v for v in vals[1:] if v is not None]
        ratio = "-"
        if vals[0] is not None and others and higher is not None:
            best = max(others) if higher else min(others)
            if best:
                r = vals[0] / best
                ratio = f"{r:.2f}" if r >= 0.1 else f"{r:.3f}"
        tgt = TARGETS.get(tkey, "")
        if which is FTPS and label.startswith("FTPS RETR"):
            lines.append("")
        lines.append(f"{label:36} " + " ".join(f"{fmt(v, kind):>10}" for v in vals)
                     + f" {ratio:>7}  {tgt}")
        if label.startswith("small files 4 KiB"):
            fs = s.get("ferroftp-fsync", {})
            lines.append(f"{'STOR ' + sz + ', fsync_uploads=true':36} "
                         f"{fmt(fs.get('stor_mbs'), 'mbs'):>10}")
            lines.append(f"{'small files/s, fsync_uploads=true':36} "
                         f"{fmt(fs.get('small_per_s'), 'rate'):>10}")
    c = results["ceiling"]
    lines += [
        "",
        "ceiling (loopback, no FTP):",
        f"  Python client recv_into <- Python os.sendfile   {fmt(c.get('raw_python_down_mbs'), 'mbs')} MB/s"
        f"   (RETR ceiling with this client; client CPU busy {fmt(c.get('raw_python_down_client_busy'), 'cpu')})",
        f"  Python client sendfile  -> Python recv_into     {fmt(c.get('raw_python_up_mbs'), 'mbs')} MB/s"
        "   (STOR ceiling, without the disk write)",
        f"  iperf3 (C both ends)                            {fmt(c.get('iperf3_mbs'), 'mbs')} MB/s",
        f"  TLS, Python ssl both ends: server -> client     {fmt(c.get('raw_tls_down_mbs'), 'mbs')} MB/s"
        f"   (FTPS RETR ceiling with this client; client CPU busy {fmt(c.get('raw_tls_down_client_busy'), 'cpu')})",
        f"  TLS, Python ssl both ends: client -> server     {fmt(c.get('raw_tls_up_mbs'), 'mbs')} MB/s"
        f"   (FTPS STOR ceiling, without the disk write; {c.get('raw_tls_cipher') or '-'})",
    ]
    ciphers = [f"{n} {get(FTPS[n], 'cipher')}" for n in FTPS if get(FTPS[n], "cipher")]
    if ciphers:
        lines.append("  negotiated (control connection): " + "; ".join(ciphers))
    lines += ["", "idle-session detail:"]
    for n in PLAIN:
        d = get(n, "idle")
        if not d:
            continue
        lines.append(
            f"  {n:10} {d['sessions']} sessions ({d['errors']} failed), RSS {d['rss0_kib']/1024:.1f}"
            f" -> {d['rss1_kib']/1024:.1f} MiB, PSS {d['pss0_kib']/1024:.1f} -> "
            f"{d['pss1_kib']/1024:.1f} MiB, {d['processes']} processes, {d['threads']} threads,"
            f" logins took {d['login_seconds']:.1f} s")
    for n in PLAIN:
        if get(n, "greet_errors"):
            lines.append(f"  {n}: {get(n, 'greet_errors')} greeting errors")
    for name, title in (("ferroftp", "plain"), ("ferroftp-tls", "FTPS")):
        st = get(name, "strace")
        if not st:
            continue
        lines += ["", f"ferroftp {title}: syscalls during one transfer of min(file, 256 MiB) each "
                      "(strace -f; writev: requested = iovecs):"]
        for what in ("retr", "stor"):
            for call, d in sorted((st.get(what) or {}).items()):
                if call == "error":
                    lines.append(f"  {what.upper()}: strace run failed: {d}")
                    continue
                if not d["bytes"]:
                    lines.append(f"  {what.upper()}: {call:10} {d['calls']:6} calls")
                    continue
                sizes = ", ".join(f"{k}x{v}" for k, v in sorted(d["sizes"].items(),
                                                                key=lambda kv: -kv[1])[:3])
                lines.append(f"  {what.upper()}: {call:10} {d['calls']:6} calls, "
                             f"{d['bytes']/MIB:8.1f} MiB, avg {d['bytes']/d['calls']/1024:8.1f}"
                             f" KiB/call, requested size x calls: {sizes}")
    for n in list(s):
        if s[n].get("error"):
            lines.append(f"  {n} FAILED: {s[n]['error']}")
    lines += results["notes"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
