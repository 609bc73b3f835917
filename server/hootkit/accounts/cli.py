"""`hoot account add|list|password`: dashboard accounts, written straight into the server's store."""

import asyncio
import getpass
import sys

from hootkit.accounts.passwords import hash_password, weakness
from hootkit.settings import Settings


def add_parser(sub) -> None:
    account = sub.add_parser("account", help="dashboard accounts (admin, teacher, parent)")
    account_sub = account.add_subparsers(dest="account_command", required=True)
    add = account_sub.add_parser("add", help="create an account; the password is asked for, or read from stdin")
    add.add_argument("username")
    add.add_argument("--role", choices=["admin", "teacher", "parent"], default="teacher")
    password = account_sub.add_parser("password", help="set a new password (asked for, or read from stdin)")
    password.add_argument("username")
    account_sub.add_parser("list", help="list the accounts")


def run(args) -> int:
    return asyncio.run(_run(args))


async def _run(args) -> int:
    from hootkit.store.db import Conflict, Store

    settings = Settings()
    store = await Store.from_settings(settings)
    try:
        if args.account_command == "list":
            for account in await store.accounts():
                print(f"{account.username}\t{account.role}")
            return 0
        password = _read_password()
        problem = weakness(password)
        if problem:
            print(f"hoot account: {problem}", file=sys.stderr)
            return 2
        if args.account_command == "password":
            account = await store.account_named(args.username)
            if account is None:
                print(f"hoot account: no account named {args.username!r}", file=sys.stderr)
                return 1
            await store.set_password(account.id, await hash_password(password))
            await store.audit("cli", "set password", account.username)
            print(f"new password set for {account.username}")
            return 0
        try:
            account = await store.add_account(args.username, await hash_password(password), args.role)
        except Conflict:
            print(f"hoot account: the user name {args.username!r} is taken", file=sys.stderr)
            return 1
        await store.audit("cli", "create account", f"{account.role} {account.username}")
        print(f"{account.role} {account.username} created; log in at /dashboard/")
        return 0
    finally:
        await store.close()


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("hoot account: the two passwords differ", file=sys.stderr)
        raise SystemExit(2)
    return first
