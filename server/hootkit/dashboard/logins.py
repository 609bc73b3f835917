"""Dashboard logins: session cookies, a CSRF token on every change, rate-limited tries, 401 for strangers."""

import hmac
import math
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from hootkit.accounts.access import Caller
from hootkit.accounts.passwords import HashingBusy, check_password, new_token, token_hash
from hootkit.gateway.auth import bearer_token, is_local, matches

COOKIE = "hoot_session"
CSRF_HEADER = "x-csrf-token"
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
# verifying against a real hash for unknown names keeps their answer as slow as a wrong password's
_UNKNOWN_USER_HASH = "$argon2id$v=19$m=65536,t=3,p=4$G9+1ym4L0oz+JdCg+5drGA$zBr/3fKVJy8vokbtTLXtfCVxezgy89NBEphIlbLlxkg"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def refuse(request: Request, status: int, reason: str, actor: str = "anonymous", **headers: str) -> HTTPException:
    """The error to raise, after writing the refusal to the audit log (a flood's repeats are counted, not written)."""
    await request.app.state.hoot.refusals.refused(actor, f"{request.method} {request.url.path}", status, reason,
                                                  client_ip(request))
    return HTTPException(status, reason, headers=headers or None)


async def caller(request: Request) -> Caller:
    """Who is calling: a browser login (whose changes must carry its CSRF token), a teacher token, or this
    machine (when `trust_local`) while no account and no teacher token exist; anyone else gets 401."""
    hoot = request.app.state.hoot
    ip = client_ip(request)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        found = await hoot.store.login(token_hash(cookie))
        if found is not None:
            account, login = found
            if request.method in CHANGES and not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), login.csrf):
                raise await refuse(request, 403, "the CSRF token is missing or wrong; reload the dashboard", account.username)
            return Caller(account.username, account.role, account.id, login.csrf, ip)
    settings = hoot.settings
    if matches(bearer_token(request), settings.teacher_tokens):
        return Caller("token", "admin", ip=ip)
    if (not settings.teacher_tokens and settings.trust_local and is_local(request)
            and await hoot.store.count_accounts() == 0):
        return Caller("local", "admin", ip=ip)
    reason = "log in first (or send a teacher token)"
    if request.url.path == "/api/me":  # a page asking whether it is logged in is no attempt worth auditing
        raise HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})
    raise await refuse(request, 401, reason, **{"WWW-Authenticate": "Bearer"})


async def admin(request: Request, who: Caller = Depends(caller)) -> Caller:
    if not who.is_admin:
        raise await refuse(request, 403, "only an admin may do this", who.name)
    return who


async def staff(request: Request, who: Caller = Depends(caller)) -> Caller:
    """A teacher or an admin: parents watch their own child's device but change nothing in the classroom."""
    if who.role == "parent":
        raise await refuse(request, 403, "only a teacher or an admin may do this", who.name)
    return who


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


router = APIRouter(prefix="/api")


def _user(who: Caller) -> dict:
    return {"id": who.account_id, "username": who.name, "role": who.role}


@router.post("/login")
async def login(credentials: Credentials, request: Request, response: Response) -> dict:
    hoot = request.app.state.hoot
    ip = client_ip(request)
    keys = (f"ip:{ip}", f"user:{credentials.username.lower()}")
    # by address and the name typed, never by whether the account exists (its speed would tell)
    known = ip in hoot.known_addresses and not hoot.login_failures.tries(keys[0]) \
        and hoot.known_addresses.fast_lane(ip, credentials.username)
    # the try counts before anything is awaited, so parallel tries cannot all get past the limit
    wait = hoot.login_failures.attempt(*keys)
    if wait:
        raise await refuse(request, 429, f"too many wrong tries; wait {math.ceil(wait)} seconds", credentials.username,
                           **{"Retry-After": str(math.ceil(wait))})
    locks_the_name = hoot.login_failures.wait_s(keys[1]) > 0  # this try, if wrong, is the one that reaches the limit
    try:
        account = await hoot.store.account_named(credentials.username)
        right = await check_password(account.password_hash if account else _UNKNOWN_USER_HASH, credentials.password,
                                     known=known)
    except HashingBusy:
        hoot.login_failures.forgive(*keys)  # never judged: no wrong try
        raise await refuse(request, 503, "the server is busy checking other logins; try again in a moment",
                           credentials.username, **{"Retry-After": "2"})
    if account is None or not right:
        if account is not None and locks_the_name:  # always its own row: counted refusals must not hide a target
            limit = hoot.login_failures
            await hoot.store.audit(account.username, "locked", f"{request.method} {request.url.path}", ok=False, ip=ip,
                                   detail=f"{limit.max_failures} wrong passwords within {limit.window_s:.0f} s: "
                                          "logins with this name wait")
        raise await refuse(request, 401, "wrong user name or password", credentials.username)
    hoot.login_failures.succeeded(*keys)
    hoot.known_addresses.add(ip)
    token, csrf = new_token(), new_token()
    hours = hoot.settings.login_hours
    await hoot.store.add_login(token_hash(token), account.id, csrf, datetime.now(UTC) + timedelta(hours=hours))
    await hoot.store.audit(account.username, "login", ip=ip)
    response.set_cookie(COOKIE, token, max_age=int(hours * 3600), httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return {"user": {"id": account.id, "username": account.username, "role": account.role}, "csrf": csrf}


@router.post("/logout")
async def logout(request: Request, response: Response, who: Caller = Depends(caller)) -> dict:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await request.app.state.hoot.store.drop_login(token_hash(cookie))
    response.delete_cookie(COOKIE, path="/")
    return {"user": _user(who)}


@router.get("/me")
async def me(who: Caller = Depends(caller)) -> dict:
    return {"user": _user(who), "csrf": who.csrf}
