"""Board definitions (hardware/boards/<name>.toml): loading, pin checks, and the files generated from them."""

import csv
import io
import json
import tomllib
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REPO_ROOT = Path(__file__).resolve().parents[3]
HARDWARE_DIR = REPO_ROOT / "hardware"
BOARDS_DIR = HARDWARE_DIR / "boards"

POWER_NETS = ("3V3", "5V", "GND")
NOT_CONNECTED = "open"

ESP32S3_GPIOS = frozenset(range(0, 22)) | frozenset(range(26, 49))
FLASH_GPIOS = range(26, 33)
OCTAL_PSRAM_GPIOS = range(33, 38)
USB_GPIOS = {19: "D-", 20: "D+"}
STRAPPING_GPIOS = (0, 3, 45, 46)
I2S_IDS = (0, 1)


class BoardError(Exception):
    """A board file that is missing or malformed, or whose pins cannot work; the message names the file."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BoardInfo(_Section):
    """[board]: what the board is and which MicroPython image runs on it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    chip: Literal["esp32s3"]
    module: str
    flash_mb: int = Field(gt=0)
    psram: Literal["none", "quad", "octal"]
    micropython_image: str
    micropython_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    notes: list[str] = []


class Devkit(_Section):
    """[devkit]: the development board's pin headers, pin 1 first; ints are GPIOs, strings power or others."""

    name: str
    headers: dict[str, list[int | str]] = Field(min_length=1, max_length=2)

    def locate(self, target: int | str) -> tuple[str, int] | None:
        """The first header pin (header name, 1-based pin) carrying a GPIO number or a power net."""
        for header, pins in self.headers.items():
            for index, pin in enumerate(pins):
                if pin == target:
                    return header, index + 1
        return None


class Part(_Section):
    """A part on the board; `wiring` maps each pin of the part to a GPIO field, a power net or "open"."""

    gpio_fields: ClassVar[tuple[str, ...]] = ()
    firmware_fields: ClassVar[tuple[str, ...]] = ()

    part: str
    wiring: dict[str, str]
    external: dict[str, str] = {}
    notes: dict[str, str] = {}

    @model_validator(mode="after")
    def _wiring_is_complete(self) -> "Part":
        allowed = (*self.gpio_fields, *POWER_NETS, NOT_CONNECTED)
        for pin, target in self.wiring.items():
            if target not in allowed:
                raise ValueError(f"wiring.{pin} is {target!r}, expected one of {', '.join(allowed)}")
        for field in self.gpio_fields:
            if field not in self.wiring.values():
                raise ValueError(f"wiring connects no pin of the {self.part} to {field}")
        for pin in self.external:
            if pin in self.wiring:
                raise ValueError(f"pin {pin} is in both wiring and external")
        for pin in self.notes:
            if pin not in self.wiring and pin not in self.external:
                raise ValueError(f"notes.{pin} is about a pin that is in neither wiring nor external")
        return self

    def gpios(self) -> list[tuple[str, int]]:
        return [(field, getattr(self, field)) for field in self.gpio_fields]

    def firmware_values(self) -> dict[str, object]:
        return {field: getattr(self, field) for field in self.firmware_fields}


class I2sPart(Part):
    """A part on one of the chip's I2S peripherals."""

    gpio_fields = ("sck", "ws", "sd")

    i2s_id: int
    sck: int
    ws: int
    sd: int
    rate: int = Field(gt=0)
    bits: Literal[16, 32]


class Mic(I2sPart):
    """[mic]: an I2S microphone."""

    firmware_fields = ("i2s_id", "sck", "ws", "sd", "rate", "bits", "shift")

    shift: int = Field(ge=0, le=16)


class Speaker(I2sPart):
    """[speaker]: an I2S amplifier and its speaker."""

    firmware_fields = ("i2s_id", "sck", "ws", "sd", "rate", "bits", "volume")

    volume: float = Field(ge=0, le=1)


class Button(Part):
    """[button]: the talk button."""

    gpio_fields = ("pin",)
    firmware_fields = ("pin", "pull", "active")

    pin: int
    pull: Literal["up", "down"]
    active: Literal["low", "high"]


class Led(Part):
    """[led]: the status LED."""

    gpio_fields = ("pin",)
    firmware_fields = ("kind", "pin", "count")

    kind: Literal["ws2812"]
    pin: int
    count: int = Field(ge=1)


class BomPart(_Section):
    """One [[parts]] row: what to buy."""

    part: str
    quantity: int = Field(ge=1)
    typical_price_usd: float = Field(gt=0)
    source: str
    notes: str = ""


class Board(_Section):
    """A whole board file."""

    SECTIONS: ClassVar[tuple[str, ...]] = ("mic", "speaker", "button", "led")
    TITLES: ClassVar[dict[str, str]] = {"mic": "Microphone", "speaker": "Speaker amplifier",
                                        "button": "Button", "led": "Status LED"}

    info: BoardInfo = Field(alias="board")
    devkit: Devkit
    mic: Mic
    speaker: Speaker
    button: Button
    led: Led
    parts: list[BomPart] = Field(min_length=1)

    @model_validator(mode="after")
    def _power_is_on_the_headers(self) -> "Board":
        for section, part in self.sections():
            for pin, target in part.wiring.items():
                if target in POWER_NETS and self.devkit.locate(target) is None:
                    raise ValueError(f"[{section}].wiring.{pin} needs {target}, which no [devkit] header has")
        return self

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def title(self) -> str:
        return self.info.title

    @property
    def chip(self) -> str:
        return self.info.chip

    @property
    def micropython_image(self) -> str:
        return self.info.micropython_image

    @property
    def micropython_sha256(self) -> str:
        return self.info.micropython_sha256

    @property
    def module_name(self) -> str:
        return self.name.replace("-", "_")

    def sections(self) -> list[tuple[str, Part]]:
        return [(section, getattr(self, section)) for section in self.SECTIONS]

    def signals(self) -> list[tuple[str, int]]:
        """Every GPIO the board uses, as ("mic.sck", 4), in file order."""
        return [(f"{section}.{field}", gpio)
                for section, part in self.sections() for field, gpio in part.gpios()]


def list_boards(boards_dir: Path = BOARDS_DIR) -> list[str]:
    return sorted(path.stem for path in boards_dir.glob("*.toml"))


def load_board(name_or_path: str | Path) -> Board:
    """Read, validate and pin-check a board by name (hardware/boards/<name>.toml) or by path to a .toml."""
    path = _board_path(name_or_path)
    shown = _display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(list_boards()) or "none"
        raise BoardError(f"{shown}: no such board file (boards: {known})") from None
    except OSError as error:
        raise BoardError(f"{shown}: cannot be read: {error.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BoardError(f"{shown}: not valid TOML: {error}") from None
    try:
        board = Board.model_validate(data)
    except ValidationError as error:
        raise BoardError(f"{shown}: " + "; ".join(_describe(e) for e in error.errors())) from None
    if board.name != path.stem:
        raise BoardError(f"{shown}: [board].name is {board.name!r}, but the file is {path.name}; "
                         "they must match")
    problems = check_pins(board)
    if problems:
        raise BoardError(f"{shown}: " + " ".join(problems), problems)
    return board


def check_pins(board: Board) -> list[str]:
    """Pin problems as sentences naming the signals; empty when the board can work."""
    signals = board.signals()
    problems = [problem for signal, gpio in signals if (problem := _gpio_problem(board, signal, gpio))]
    users: dict[int, list[str]] = {}
    for signal, gpio in signals:
        users.setdefault(gpio, []).append(signal)
    for gpio, names in users.items():
        if len(names) > 1:
            problems.append(f"{_and(names)} {'both' if len(names) == 2 else 'all'} use GPIO {gpio}.")
    for section in ("mic", "speaker"):
        i2s_id = getattr(board, section).i2s_id
        if i2s_id not in I2S_IDS:
            problems.append(f"{section}.i2s_id is {i2s_id}, but the ESP32-S3 has only I2S 0 and 1.")
    if board.mic.i2s_id == board.speaker.i2s_id:
        problems.append(f"mic.i2s_id and speaker.i2s_id both use I2S {board.mic.i2s_id}; the microphone and "
                        "the speaker each need their own (the ESP32-S3 has I2S 0 and 1).")
    return problems


def _gpio_problem(board: Board, signal: str, gpio: int) -> str | None:
    if gpio not in ESP32S3_GPIOS:
        return f"{signal} uses GPIO {gpio}, which the ESP32-S3 does not have (it has GPIO 0-21 and 26-48)."
    if gpio in FLASH_GPIOS:
        return f"{signal} uses GPIO {gpio}, which every ESP32-S3 module wires to its SPI flash (GPIO 26-32)."
    if board.info.psram == "octal" and gpio in OCTAL_PSRAM_GPIOS:
        return (f"{signal} uses GPIO {gpio}, which the octal PSRAM of the {board.info.module} takes "
                "(GPIO 33-37).")
    if gpio in USB_GPIOS:
        return f"{signal} uses GPIO {gpio}, which is USB {USB_GPIOS[gpio]} of the ESP32-S3's USB port."
    if gpio in STRAPPING_GPIOS and signal != "button.pin":
        return (f"{signal} uses GPIO {gpio}, a strapping pin that decides how the chip boots; "
                "only the button may use one (GPIO 0 is the BOOT button).")
    if board.devkit.locate(gpio) is None:
        return f"{signal} uses GPIO {gpio}, which the {board.devkit.name} does not bring out to a header."
    return None


def board_module_source(board: Board) -> str:
    """The MicroPython module the firmware imports as `board`: plain dicts, deterministic."""
    lines = [
        f'"""Pins and parts of {board.name}, generated from hardware/boards/{board.name}.toml. Do not edit.',
        "",
        f"`hoot firmware build --board {board.name}` writes this file again from the TOML.",
        '"""',
        f"NAME = {_python_literal(board.name)}",
        f"CHIP = {_python_literal(board.info.chip)}",
    ]
    lines += [f"{section.upper()} = {_python_literal(part.firmware_values())}"
              for section, part in board.sections()]
    return "\n".join(lines) + "\n"


def wiring_markdown(board: Board) -> str:
    """The board's wiring: one table per part (part pin -> GPIO or power) and an ASCII diagram."""
    info = board.info
    lines = [
        f"## {board.name}: {info.title}",
        "",
        f"{board.devkit.name} with an {info.module} module ({info.flash_mb} MB flash, {info.psram} PSRAM), "
        f"from `hardware/boards/{board.name}.toml`. Header pin 1 is at the antenna end.",
        "",
    ]
    if info.notes:
        lines += [f"- {note}" for note in info.notes] + [""]
    for section, part in board.sections():
        lines += [
            f"### {board.TITLES[section]}: {part.part}",
            "",
            f"| {part.part} pin | connects to | {board.devkit.name} pin | note |",
            "|---|---|---|---|",
        ]
        for pin, target in part.wiring.items():
            connects, header_pin = _describe_target(board, section, part, target)
            lines.append(_table_row(pin, connects, header_pin, part.notes.get(pin, "")))
        for pin, target in part.external.items():
            lines.append(_table_row(pin, target, "-", part.notes.get(pin, "")))
        lines.append("")
    lines += ["### Diagram", "", "```text", *_diagram(board), "```", ""]
    return "\n".join(lines)


def wiring_document(boards: list[Board]) -> str:
    """hardware/wiring.md: a section per board."""
    intro = [
        "# Wiring",
        "",
        "Generated from `hardware/boards/*.toml` by `hoot firmware build`: "
        "edit the board's TOML, not this file.",
        "",
    ]
    return "\n".join(intro) + "\n" + "\n".join(wiring_markdown(board) for board in boards)


def bom_csv(boards: list[Board]) -> str:
    """hardware/bom.csv: the [[parts]] of every board; prices are per unit."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["part", "quantity", "typical_price_usd", "source", "notes"])
    for board in boards:
        for item in board.parts:
            price = f"{item.typical_price_usd:.2f}"
            writer.writerow([item.part, item.quantity, price, item.source, item.notes])
    return out.getvalue()


def generated_files(boards: list[Board], repo_root: Path = REPO_ROOT) -> dict[Path, str]:
    """Every generated file, path -> content: a board module per board, one wiring doc, one BOM."""
    files = {repo_root / "firmware" / "boards" / f"{board.module_name}.py": board_module_source(board)
             for board in boards}
    files[repo_root / "hardware" / "wiring.md"] = wiring_document(boards)
    files[repo_root / "hardware" / "bom.csv"] = bom_csv(boards)
    return files


def write_generated(board: Board, repo_root: Path = REPO_ROOT) -> list[Path]:
    """Write the board module of `board` and the wiring doc and BOM of all boards in hardware/boards/."""
    boards_dir = repo_root / "hardware" / "boards"
    shipped = {other.name: other for other in map(load_board, sorted(boards_dir.glob("*.toml")))}
    shipped[board.name] = board
    everything = generated_files([shipped[name] for name in sorted(shipped)], repo_root)
    module = repo_root / "firmware" / "boards" / f"{board.module_name}.py"
    written = []
    for path in (module, repo_root / "hardware" / "wiring.md", repo_root / "hardware" / "bom.csv"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(everything[path], encoding="utf-8", newline="\n")
        written.append(path)
    return written


def _board_path(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, Path) or name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(name_or_path)
    return BOARDS_DIR / f"{name_or_path}.toml"


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _describe(error: dict) -> str:
    """One pydantic error as '[mic].sck: field required'."""
    head, *rest = error["loc"]
    if head == "parts" and rest and isinstance(rest[0], int):
        where, rest = f"[[parts]] #{rest[0] + 1}", rest[1:]
    else:
        where = f"[{head}]"
    for item in rest:
        where += f"[{item}]" if isinstance(item, int) else f".{item}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message[:1].lower()}{message[1:]}"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _python_literal(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_python_literal(k)}: {_python_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool | int | float):
        return repr(value)
    raise TypeError(f"cannot write {value!r} into a board module")


def _header_pin_text(location: tuple[str, int] | None) -> str:
    return "-" if location is None else f"{location[0]} pin {location[1]}"


def _describe_target(board: Board, section: str, part: Part, target: str) -> tuple[str, str]:
    """What a part pin connects to, and the devkit header pin it goes to."""
    if target == NOT_CONNECTED:
        return "nothing (leave open)", "-"
    if target in POWER_NETS:
        return target, _header_pin_text(board.devkit.locate(target))
    gpio = getattr(part, target)
    return f"GPIO {gpio} (`{section}.{target}`)", _header_pin_text(board.devkit.locate(gpio))


def _table_row(*cells: str) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _pin_label(pin: int | str) -> str:
    return f"IO{pin}" if isinstance(pin, int) else pin


def _diagram(board: Board) -> list[str]:
    """The devkit as a box with its headers down both sides and a line out to each part pin wired to them."""
    users: dict[tuple[str, int], dict[str, list[str]]] = {}
    for _, part in board.sections():
        for pin, target in part.wiring.items():
            if target == NOT_CONNECTED:
                continue
            location = board.devkit.locate(target if target in POWER_NETS else getattr(part, target))
            users.setdefault(location, {}).setdefault(part.part, []).append(pin)

    def wired(header: str, index: int) -> str:
        by_part = users.get((header, index), {})
        return ", ".join(f"{part} {'+'.join(pins)}" for part, pins in by_part.items())

    names = list(board.devkit.headers)
    left = names[0]
    right = names[1] if len(names) > 1 else None
    left_pins = board.devkit.headers[left]
    right_pins = board.devkit.headers[right] if right else []
    rows = []
    for index in range(1, max(len(left_pins), len(right_pins)) + 1):
        left_text = f" {index:>2} {_pin_label(left_pins[index - 1]):<5}" if index <= len(left_pins) else ""
        right_text = f"{_pin_label(right_pins[index - 1]):>5} {index:>2} " if index <= len(right_pins) else ""
        left_users = wired(left, index)
        right_users = wired(right, index) if right else ""
        rows.append((f"{left_users} ---o" if left_users else "", left_text, right_text,
                     f"o--- {right_users}" if right_users else ""))

    inner = 30
    margin = max(len(row[0]) for row in rows)

    def boxed(text: str) -> str:
        return f"{'':>{margin}}|{text:^{inner}}|"

    lines = [f"{'':>{margin}}+{'-' * inner}+", boxed(board.devkit.name), boxed("(antenna end)"),
             boxed(f" {left:<{inner // 2 - 1}}{right or '':>{inner // 2 - 1}} ")]
    lines += [f"{wire_left:>{margin}}|{left_text:<{inner // 2}}{right_text:>{inner // 2}}|{wire_right}"
              for wire_left, left_text, right_text, wire_right in rows]
    lines += [boxed("(USB ports)"), f"{'':>{margin}}+{'-' * inner}+"]
    externals = [(part.part, pin, target)
                 for _, part in board.sections() for pin, target in part.external.items()]
    if externals:
        lines.append("")
        lines += [f"{part} {pin} --- {target}" for part, pin, target in externals]
    unconnected = [f"{part.part} {pin}" for _, part in board.sections()
                   for pin, target in part.wiring.items() if target == NOT_CONNECTED]
    if unconnected:
        lines += ["", f"open (not connected): {', '.join(unconnected)}"]
    return [line.rstrip() for line in lines]
