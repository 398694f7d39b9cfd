"""gateway_bench.sh's measurements read back for its tables (run with runpy by the script's table code)."""


def read_results(results, duration, clk_tck):
    """Reads the results file, a line per measurement: "PATH-KEY req/s p50_us p99_us" and the CPU
    ticks of the proxy (user, system) and of the upstream during it. Returns, per path, every
    round's (req/s, p50, p99); the best round (the highest throughput, with that round's own
    latencies); and the CPU over all rounds: [requests, proxy user s, proxy system s, upstream s]."""
    measured, cpu = {}, {}
    tick = 1.0 / float(clk_tck)
    for line in open(results):
        key, rps, p50, p99, user, system, upstream = line.split()
        measured.setdefault(key, []).append((float(rps), float(p50), float(p99)))
        c = cpu.setdefault(key, [0.0, 0.0, 0.0, 0.0])
        c[0] += float(rps) * float(duration)
        c[1] += int(user) * tick
        c[2] += int(system) * tick
        c[3] += int(upstream) * tick
    best = {key: max(runs) for key, runs in measured.items()}
    return measured, best, cpu


def cpu_rows(cpu, paths):
    """Table rows of the CPU one request costs on CPU 0, for each (label, path key): the proxy and the
    upstream share that CPU, so their sum bounds req/s."""
    rows = []
    for label, key in paths:
        requests, user, system, upstream = cpu[key]
        us = lambda seconds: seconds / requests * 1e6
        rows.append(f"| {label} | {us(user):.1f} µs | {us(system):.1f} µs | {us(upstream):.1f} µs | "
                    f"{us(user + system + upstream):.1f} µs |")
    return rows
