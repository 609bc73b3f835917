"""Prints a bench's results as a plain text table: a title line, a header row, then one row per result."""


def print_table(title: str, columns: list[tuple[str, str, int]], rows: list[dict]) -> None:
    """`columns`: (header, key in each row, width); the first column is left-aligned, the rest right-aligned."""
    print(title)
    print("".join(_cell(header, width, first=i == 0) for i, (header, _key, width) in enumerate(columns)))
    for row in rows:
        print("".join(_cell(row[key], width, first=i == 0) for i, (_header, key, width) in enumerate(columns)))


def _cell(value, width: int, first: bool) -> str:
    return f"{value!s:<{width}}" if first else f"{value!s:>{width}}"
