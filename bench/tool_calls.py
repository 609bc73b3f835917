"""Device-tool calls by the LLM: given a XiaoZhi board's tools (volume, brightness, theme, status), does the model
call the right one when a child or teacher asks the box, and keep away from them when it should just talk?

`--prompt hootkit`: Hootkit's own free-chat prompt (system prompt, worked examples, no history); `--prompt bare`: the
question alone, the model's best case. Either way the board's tools go in through the model's own chat template
(`tools=`, rendered by the GGUF's template: Qwen's `<tool_call>` format). A call
is a JSON object naming a tool anywhere in the reply (see `calls_in`). Graded per line of a set:
  - a request: right when the expected tool is called (a status read before a setting is allowed) with the exact
    arguments where the line says "exact", and no other setting is changed;
  - not a request: right when no tool is called.
`--set heldout` (bench/tool_calls/heldout.jsonl) was written by a helper who saw neither this bench nor the
prompt; nothing was tuned on it. `--set dev` is 10 lines the bench's author wrote to check the harness. Prints a table and writes bench/results/tool_calls-<set>-<model>.json.
"""

import argparse
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from hootkit.engines.models import llm_gguf
from hootkit.pipeline.prompt import Conversation
from hootkit.settings import Settings

from table import print_table

DATA = Path(__file__).resolve().parent / "tool_calls"
RESULTS = Path(__file__).resolve().parent / "results"
STATUS = "self.get_device_status"


def chat_tools() -> list[dict]:
    """The board's MCP tools (as the stock firmware describes them) in the chat API's form."""
    tools = json.loads((DATA / "tools.json").read_text())
    return [{"type": "function", "function": {"name": tool["name"], "description": tool["description"],
                                              "parameters": tool["inputSchema"]}} for tool in tools]


def calls_in(text: str, names: set[str]) -> tuple[list[dict], int]:
    """The tool calls in a reply, and how many times a tool is named in it outside a well-formed call.

    llama.cpp leaves special tokens out of the text, and Qwen's `<tool_call>` is one: a call reaches the text as a
    bare JSON object `{"name": ..., "arguments": {...}}` (sometimes in a code fence). Every such object naming a
    tool counts, as a server acting on the reply would take it."""
    calls, decoder, at = [], json.JSONDecoder(), 0
    while (at := text.find("{", at)) != -1:
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        if isinstance(value, dict) and value.get("name") in names:
            arguments = value.get("arguments")
            calls.append({"name": value["name"], "arguments": arguments if isinstance(arguments, dict) else {}})
        at = end
    mentioned = sum(text.count(name) for name in names)
    return calls, max(0, mentioned - len(calls))


def graded(line: dict, calls: list[dict]) -> bool:
    expected = line["expect"]
    if expected is None:
        return not calls
    setters = [call for call in calls if call["name"] != STATUS]
    if expected["name"] == STATUS:
        return any(call["name"] == STATUS for call in calls) and not setters
    if any(call["name"] != expected["name"] for call in setters) or not setters:
        return False
    return line["args"] == "any" or any(call["arguments"] == expected["arguments"] for call in setters)


def run(set_name: str, model: str, prompt: str, limit: int | None) -> dict:
    from llama_cpp import Llama

    settings = Settings()
    path = llm_gguf(model)
    llm = Llama(model_path=str(path), n_ctx=settings.llm.context, n_threads=settings.llm.threads, n_batch=256,
                verbose=False)
    lines = [json.loads(row) for row in (DATA / f"{set_name}.jsonl").read_text().splitlines() if row.strip()]
    lines = lines[:limit] if limit else lines
    tools = chat_tools()
    names = {tool["function"]["name"] for tool in tools}
    rows = []
    for line in lines:
        messages = (Conversation(settings.llm.history_turns).messages(line["text"], []) if prompt == "hootkit"
                    else [{"role": "user", "content": line["text"]}])
        started = time.perf_counter()
        reply = llm.create_chat_completion(messages=messages, tools=tools, max_tokens=96, temperature=0.0)
        took_ms = (time.perf_counter() - started) * 1000
        text = reply["choices"][0]["message"].get("content") or ""
        calls, named = calls_in(text, names)
        rows.append({**line, "reply": text, "calls": calls, "named_outside_call": named, "right": graded(line, calls),
                     "ms": round(took_ms)})
    llm.close()
    return {"set": set_name, "model": model, "prompt": prompt, "file": path.name, "rows": rows,
            "summary": summarise(rows)}


def summarise(rows: list[dict]) -> dict:
    groups = defaultdict(list)
    for row in rows:
        kind = "request" if row["expect"] else "talk"
        for key in (kind, f"{kind} {row['lang']}", "all"):
            groups[key].append(row)
    summary = {key: {"lines": len(group), "right": sum(row["right"] for row in group),
                     "right_pct": round(100 * sum(row["right"] for row in group) / len(group), 1)}
               for key, group in sorted(groups.items())}
    talk = groups.get("talk", [])
    summary["false_call_pct"] = round(100 * sum(bool(row["calls"]) for row in talk) / len(talk), 1) if talk else None
    summary["named_outside_call"] = sum(row["named_outside_call"] for row in rows)
    summary["ms_p50"] = statistics.median(row["ms"] for row in rows)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="heldout")
    parser.add_argument("--model", default="embedded", help='"embedded", a packaged model\'s name, or a .gguf path')
    parser.add_argument("--prompt", choices=("hootkit", "bare"), default="hootkit")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    result = run(args.set, args.model, args.prompt, args.limit)
    summary = result["summary"]
    table = [{"group": key, "lines": value["lines"], "right": value["right"], "pct": value["right_pct"]}
             for key, value in summary.items() if isinstance(value, dict)]
    print_table(f"tool calls: {args.set} set, {result['file']}, {args.prompt} prompt",
                [("group", "group", 14), ("lines", "lines", 7), ("right", "right", 7), ("right %", "pct", 9)], table)
    print(f"false calls on talk: {summary['false_call_pct']} %   tools named outside a call: {summary['named_outside_call']}"
          f"   time per line p50: {summary['ms_p50']:.0f} ms")
    RESULTS.mkdir(exist_ok=True)
    name = Path(args.model).stem if args.model.endswith(".gguf") else args.model
    out = RESULTS / f"tool_calls-{args.set}-{name}-{args.prompt}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
