"""The `hoot` command: serve, talk, guard, doctor."""

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import hootproto


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hoot", description="Hootkit: an open voice companion for learning.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server with the configured models")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8765)")
    serve.add_argument("--log-level", default="info")

    talk = sub.add_parser("talk", help="speak a WAV file to a server like a device, and save the reply")
    talk.add_argument("--wav", required=True, type=Path, help="the question, a 16-bit PCM WAV")
    talk.add_argument("--server", default="ws://127.0.0.1:8765" + hootproto.PATH)
    talk.add_argument("--out", type=Path, help="write the spoken reply here")
    talk.add_argument("--mode", choices=["auto", "manual"], default="auto", help="auto: server VAD; manual: push-to-talk")
    talk.add_argument("--token", help="device token, if the server requires one")
    talk.add_argument("--json", action="store_true", help="print one JSON object")

    sub.add_parser("doctor", help="say which models and backends are installed and working")

    guard = sub.add_parser("guard", help="check texts with the child-safety guards, one per line on stdin")
    guard.add_argument("--stage", choices=["input", "output"], default="input", help="a child's words, or the AI's reply")
    guard.add_argument("--json", action="store_true", help="one JSON verdict per line")

    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "talk":
        return asyncio.run(_talk(args))
    if args.command == "guard":
        return _guard(args)
    if args.command == "doctor":
        from hootkit.doctor import run_doctor

        return run_doctor()
    return 2


def _serve(args) -> int:
    import uvicorn

    from hootkit.app import create_app
    from hootkit.settings import Settings

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Hootkit: loading models; devices connect to ws://{settings.host}:{settings.port}{hootproto.PATH}", flush=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=args.log_level, ws_ping_interval=20)
    return 0


async def _talk(args) -> int:
    from hootkit.client.device import DeviceClient
    from hootkit.client.wavio import WavError, read_wav, write_wav

    try:
        samples = read_wav(args.wav)
    except (WavError, OSError) as error:
        print(f"hoot talk: {error}", file=sys.stderr)
        return 2
    try:
        async with DeviceClient(args.server, token=args.token) as client:
            result = await client.ask(samples, mode=args.mode)
    except (OSError, TimeoutError) as error:
        print(f"hoot talk: cannot talk to {args.server}: {error}", file=sys.stderr)
        return 1
    except hootproto.ProtocolError as error:
        print(f"hoot talk: server broke the protocol: {error}", file=sys.stderr)
        return 1
    if args.out:
        write_wav(args.out, bytes(result.audio), result.sample_rate)
    report = result.to_json()
    if args.json:
        print(json.dumps(report))
    else:
        print(f"heard:   {report['transcript']!r}")
        print(f"replied: {report['reply']!r}")
        print(f"voice-to-voice: {report['vtv_ms']} ms")
        for name, value in report["parts"].items():
            print(f"  {name:>20}: {value} ms")
        for alert in report["alerts"]:
            print(f"  alert: {alert}")
        if args.out:
            print(f"reply audio: {args.out} ({report['reply_audio_s']} s)")
    return 0 if result.transcript else 1


def _guard(args) -> int:
    from hootkit.safety.guard import check_input, check_output

    check = check_input if args.stage == "input" else check_output
    for line in sys.stdin:
        text = line.strip()
        if not text:
            continue
        verdict = check(text)
        if args.json:
            print(json.dumps(verdict.to_dict(), ensure_ascii=False), flush=True)
        else:
            heard = f" -> {verdict.reply}" if verdict.reply else ""
            print(f"{verdict.verdict:<8} {verdict.category or '-':<22} {text}{heard}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
