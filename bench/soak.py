"""Soak: one emulated firmware device talks to one `hoot serve` every --every seconds for --minutes.

Starts `hoot serve` with the embedded models (Whisper, the default LLM, piper) in its own process, with
its log (level warning) in a file and its data in a temporary folder, then boots the real firmware on
the MicroPython unix port (bench/emulator_vtv.py's `Session`, one long connection) and asks a cycle of
ten spoken questions, one every --every seconds (the next starts at once if a turn overran).

Per turn it records VTV (last voiced sample heard by the microphone -> first reply frame at the
firmware), the transcript and reply, the server's RSS (VmRSS from /proc), the firmware process's RSS
(the unix port has a fixed -X heapsize heap, so this is the interpreter's, not gc.mem_free: the
firmware does not log gc.mem_free), the load average and the whole machine's busy CPU share (other jobs share it), and errors:
  no_reply       the turn raised (timeout, device halted) or got no reply audio / no VTV
  alert          the firmware logged an `alert` from the server (no_speech, busy, ...)
  reconnect      a `link_down` or a second `connected` event, or a reboot of the firmware process
  crash          a firmware `crash` event or the MicroPython process stopped
  server_error   a server log line at ERROR or CRITICAL (or a Traceback), or the server process exited
Events between one turn's start and the next turn's start count for the first.

Summary: RSS start (after the first turn) / end / max, the RSS after warm-up (after turn --warmup-turns,
i.e. one whole cycle of the questions, so every code path and the LLM's prompt cache have been used),
"flat" = the end RSS within 5 % of the after-warm-up RSS, and the least-squares slope of RSS over time
after warm-up (MB per hour); VTV p50/p95 and the median of the first 10 turns against the last 10
(target: within 10 %). Prints a table (bench/table.py) and writes bench/results/soak.json.
"""

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from table import print_table  # noqa: E402
from vtv import QUESTIONS, free_port, percentile  # noqa: E402

from hootkit.client.speech import speak  # noqa: E402
from hootkit.emulator.session import Session  # noqa: E402

SOAK_QUESTIONS = QUESTIONS + [
    "What do bees make?",
    "How far away is the moon?",
    "Why do cats purr?",
    "What is the biggest animal in the ocean?",
    "Where does rain come from?",
    "How many days are in a week?",
]
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback")
TURN_TIMEOUT_S = 150.0


def start_server(port: int, data_dir: Path, log_path: Path) -> subprocess.Popen:
    """`hoot serve` with its log in a file (bench/vtv.py's start_server throws the log away)."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hootkit.cli", "serve", "--port", str(port), "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HOOT_DATA_DIR": str(data_dir)},
    )
    with httpx.Client() as client:
        while process.poll() is None:
            try:
                if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"server exited with {process.returncode}; log:\n{log_path.read_text()[-3000:]}")


def rss_mb(pid: int | None) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, TypeError):
        pass
    return None


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)
    except (OSError, IndexError, ValueError):
        return None


class CpuBusy:
    """The share of this machine's CPU time that was busy (any process) since the last call, from /proc/stat."""

    def __init__(self):
        self.last = self._read()

    @staticmethod
    def _read() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    def since_last(self) -> float | None:
        now = self._read()
        busy, total = now[0] - self.last[0], now[1] - self.last[1]
        self.last = now
        return round(busy / total, 2) if total else None


class LogTail:
    """New lines of the server log since the last call."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode(errors="replace").splitlines()


async def soak(url: str, audio: list[tuple[str, np.ndarray]], minutes: float, every: float,
               server: subprocess.Popen | None, log: LogTail | None) -> tuple[list[dict], dict]:
    rows: list[dict] = []
    notes: dict = {"stopped_early": None}
    async with Session(url) as session:
        device = session.device
        started = time.monotonic()
        ends = started + minutes * 60
        boots = device.boots
        cpu = CpuBusy()
        pending: tuple[dict, int] | None = None  # the last turn's row and the event index it started at

        def finish(row: dict, since: int) -> None:
            """Errors from the events since the turn began and the server log lines since the last turn."""
            nonlocal boots
            events = device.events[since:]
            kinds = [event["ev"] for event in events]
            row["alerts"] = [f"{e.get('code')}: {e.get('message')}" for e in events if e["ev"] == "alert"]
            row["reconnects"] = kinds.count("link_down") + kinds.count("connected") + (device.boots - boots)
            row["link_events"] = [{k: v for k, v in e.items() if k in ("ev", "code", "reason", "boot")}
                                  for e in events if e["ev"] in ("link_down", "connected", "boot", "refused")]
            row["crash"] = [e.get("error") or f"halted {e.get('code')}" for e in events if e["ev"] in ("crash", "halted")]
            row["protocol_errors"] = [e.get("message") for e in events if e["ev"] == "protocol_error"]
            boots = device.boots
            row["cpu_busy"] = cpu.since_last()  # the whole machine, from this turn's start to the next's
            lines = log.new_lines() if log else []
            row["server_error_lines"] = [line for line in lines if ERROR_LINE.search(line)]
            row["server_warning_lines"] = len([line for line in lines if "WARNING" in line])
            if server is not None and server.poll() is not None:
                row["server_error_lines"].append(f"server exited with {server.returncode}")
            row["errors"] = [name for name, bad in (
                ("no_reply", row["no_reply"]), ("alert", row["alerts"]), ("reconnect", row["reconnects"]),
                ("crash", row["crash"]), ("protocol_error", row["protocol_errors"]),
                ("server_error", row["server_error_lines"])) if bad]

        turn = 0
        while True:
            scheduled = started + turn * every
            if scheduled >= ends:
                break
            await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
            if pending:
                finish(*pending)
            else:
                cpu.since_last()
            question, samples = audio[turn % len(audio)]
            since = device.mark()
            began = time.monotonic()
            row = {"turn": turn, "t_s": round(began - started, 1), "late_s": round(began - scheduled, 1), "question": question}
            error = None
            try:
                report = (await asyncio.wait_for(session.ask(samples), TURN_TIMEOUT_S)).to_json()
            except Exception as exc:  # a turn that failed is a data point, not the end of the soak
                error = f"{type(exc).__name__}: {str(exc)[:400]}"
                report = {"transcript": None, "reply": "", "vtv_ms": None, "parts": {}, "alerts": [], "reply_audio_s": 0.0}
            row.update({
                "vtv_ms": report["vtv_ms"], "server_vtv_ms": report["parts"].get("server_vtv"),
                "device_playout_ms": report["parts"].get("device_playout"),
                "turn_s": round(time.monotonic() - began, 1), "transcript": report["transcript"], "reply": report["reply"],
                "reply_audio_s": report["reply_audio_s"], "exception": error,
                "no_reply": bool(error or report["vtv_ms"] is None or not report["reply_audio_s"]),
                "server_rss_mb": rss_mb(server.pid) if server else None,
                "server_cpu_s": cpu_s(server.pid) if server else None,
                "firmware_rss_mb": rss_mb(device.process.pid if device.process else None),
                "firmware_boots": device.boots, "load1": round(os.getloadavg()[0], 2),
            })
            rows.append(row)
            pending = (row, since)
            print(f"  {turn:>3} t={row['t_s']:>6}s  vtv {row['vtv_ms']!s:>7} ms  rss {row['server_rss_mb']} MB"
                  f"  load {row['load1']}  heard {row['transcript']!r}{'  ERROR ' + error if error else ''}", flush=True)
            turn += 1
            if device.halted is not None:
                notes["stopped_early"] = f"firmware halted with exit {device.halted} after turn {turn - 1}"
                break
            if server is not None and server.poll() is not None:
                notes["stopped_early"] = f"server exited with {server.returncode} after turn {turn - 1}"
                break
        if pending:
            await asyncio.sleep(1.0)
            finish(*pending)
        notes["firmware_console_tail"] = device.output[-20:]
    return rows, notes


def summarise(rows: list[dict], warmup_turns: int, every: float) -> dict:
    vtv = [row["vtv_ms"] for row in rows if row["vtv_ms"] is not None]
    rss = [(row["t_s"], row["server_rss_mb"]) for row in rows if row["server_rss_mb"] is not None]
    summary: dict = {"turns": len(rows), "turns_with_errors": sum(1 for row in rows if row["errors"])}
    for kind in ("no_reply", "alert", "reconnect", "crash", "protocol_error", "server_error"):
        summary[f"errors_{kind}"] = sum(1 for row in rows if kind in row["errors"])
    summary["late_turns"] = sum(1 for row in rows if row["late_s"] > 1.0)
    if rss:
        values = [value for _, value in rss]
        after = rss[min(warmup_turns, len(rss)) - 1]
        tail = [(t, v) for t, v in rss if t >= after[0]]
        slope = float(np.polyfit([t for t, _ in tail], [v for _, v in tail], 1)[0]) * 3600 if len(tail) >= 3 else None
        summary.update({
            "rss_start_mb": values[0], "rss_after_warmup_mb": after[1], "rss_end_mb": values[-1], "rss_max_mb": max(values),
            "rss_slope_mb_per_hour_after_warmup": None if slope is None else round(slope, 1),
            "rss_end_over_after_warmup": round(values[-1] / after[1], 3),
        })
        summary["rss_flat"] = abs(summary["rss_end_over_after_warmup"] - 1) <= 0.05
    firmware = [row["firmware_rss_mb"] for row in rows if row["firmware_rss_mb"] is not None]
    if firmware:
        summary.update({"firmware_rss_start_mb": firmware[0], "firmware_rss_end_mb": firmware[-1], "firmware_rss_max_mb": max(firmware)})
    first = [row["vtv_ms"] for row in rows[:10] if row["vtv_ms"] is not None]
    last = [row["vtv_ms"] for row in rows[-10:] if row["vtv_ms"] is not None]
    summary.update({
        "vtv_p50": percentile(vtv, 50), "vtv_p95": percentile(vtv, 95), "vtv_max": max(vtv) if vtv else None,
        "vtv_first10_median": percentile(first, 50), "vtv_last10_median": percentile(last, 50),
        "server_vtv_p50": percentile([row["server_vtv_ms"] for row in rows if row["server_vtv_ms"] is not None], 50),
        "load1_median": percentile([row["load1"] for row in rows], 50), "load1_max": max(row["load1"] for row in rows) if rows else None,
        "cpu_busy_median": percentile([row["cpu_busy"] for row in rows if row.get("cpu_busy") is not None], 50),
    })
    # the server's CPU seconds per turn (from one turn's end to the next's): unlike VTV it hardly moves with
    # the other jobs on the machine, so it tells a server that slows down from a machine that got busier
    cpu = [row["server_cpu_s"] for row in rows]
    per_turn = [b - a for a, b in zip(cpu, cpu[1:]) if a is not None and b is not None]
    summary["server_cpu_s_per_turn_first10_median"] = percentile(per_turn[:10], 50)
    summary["server_cpu_s_per_turn_last10_median"] = percentile(per_turn[-10:], 50)
    if first and last:
        summary["vtv_last10_over_first10"] = round(summary["vtv_last10_median"] / summary["vtv_first10_median"], 3)
        summary["vtv_stable"] = abs(summary["vtv_last10_over_first10"] - 1) <= 0.10
    summary["first10_and_last10_overlap"] = len(rows) < 20
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=20.0, help="seconds from one question's start to the next")
    parser.add_argument("--warmup-turns", type=int, default=len(SOAK_QUESTIONS),
                        help="RSS after this many turns is the after-warm-up value (default: one cycle of the questions)")
    parser.add_argument("--server", help="use this running server instead of starting one (no RSS, no log)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    args = parser.parse_args()

    audio = [(q, np.concatenate([speak(q), np.zeros(1600, np.int16)])) for q in SOAK_QUESTIONS]
    tmp = tempfile.TemporaryDirectory(prefix="hoot-soak-")
    log_path = Path(tmp.name) / "server.log"
    process, url, log = None, args.server, None
    if url is None:
        port = free_port()
        process = start_server(port, Path(tmp.name) / "data", log_path)
        url = f"ws://127.0.0.1:{port}/v1/device"
        log = LogTail(log_path)
    print(f"soak through the emulated firmware, {url}: a question every {args.every:g} s for {args.minutes:g} min,"
          f" {len(SOAK_QUESTIONS)} questions in turn; {os.cpu_count()} CPUs, load {os.getloadavg()}", flush=True)
    try:
        rows, notes = asyncio.run(soak(url, audio, args.minutes, args.every, process, log))
    finally:
        server_log = log_path.read_text(errors="replace") if log_path.exists() else ""
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        tmp.cleanup()
    summary = summarise(rows, args.warmup_turns, args.every)

    print()
    print_table("soak: per turn", [("turn", "turn", 5), ("t_s", "t_s", 8), ("vtv_ms", "vtv_ms", 8), ("server_vtv", "server_vtv_ms", 11),
                                   ("turn_s", "turn_s", 7), ("rss_mb", "server_rss_mb", 8), ("fw_rss_mb", "firmware_rss_mb", 10),
                                   ("load1", "load1", 6), ("cpu", "cpu_busy", 5), ("errors", "errors_text", 24)],
                [{**row, "errors_text": ",".join(row["errors"]) or "-"} for row in rows])
    print()
    print_table("soak: summary", [("measure", "name", 36), ("value", "value", 12)],
                [{"name": name, "value": value} for name, value in summary.items()])
    print(f"warm-up: the first {args.warmup_turns} turns; flat = end RSS within 5 % of the RSS after warm-up;"
          " target: last-10 VTV median within 10 % of the first-10")
    if notes["stopped_early"]:
        print(f"stopped early: {notes['stopped_early']}")
    errors = sorted({line for row in rows for line in row["server_error_lines"]})
    for line in errors[:20]:
        print(f"server error line: {line}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "summary": summary, "settings": {"minutes": args.minutes, "every_s": args.every, "warmup_turns": args.warmup_turns,
                                         "questions": SOAK_QUESTIONS, "cpu_count": os.cpu_count()},
        "notes": notes, "server_log_tail": server_log.splitlines()[-200:], "turns": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
