"""Redaction of secrets before anything leaves for Slack (or any other sink).

Pure: text in, text out. Raw evidence holds command lines (`/proc/<pid>/cmdline`,
NUL-separated), environments (`/proc/<pid>/environ`), URLs, headers, config snippets
and log lines; any of them can carry a password or a token. We redact by *shape*
(known token formats, `user:pass@` in URLs, PEM/PGP private keys), by *name* (a
value whose key says password/secret/token/..., judged on the key's last word so
`token_bucket_size=5` and `sort_key=id` stay) and by *command* (`mysql -pX`,
`sshpass -p X`, `curl -u user:pw`). Everything else stays byte-for-byte: thread
dumps, frames and hex addresses are the evidence. tests/security/test_redaction.py
holds the corpus (secret shapes and look-alikes) with the recall and false-positive
figures.

Speed: a 30 000-thread dump is ~30 MB. One pass of RE2 (a DFA: linear, no
backtracking) over the bytes finds the few lines that mention a trigger word or a
token prefix; only those lines go through the detailed Python rules, each distinct
line once. Multi-line PEM blocks are found first with a literal-prefixed search.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

try:
    import re2
except ImportError:  # no wheel for this platform: the stdlib engine, same result, slower
    re2 = None

MASK = "[REDACTED]"

# --- the prefilter: which lines can hold a secret at all ------------------------------
# Every rule below needs one of these in its line (case-insensitive words, or a token
# shape that has no word). A line without any is never touched.
_TRIGGER_WORDS = (
    r"pass|pw|secret|token|key|auth|cred|sess|cookie|sig|bearer|://"
    r"|xox|xapp-|gh[pousr]_|github_pat_|gl[a-z]{1,5}-|akia|asia|abia|acca|sk_|rk_|sk-|whsec_"
    r"|aiza|ya29\.|gocspx-|hv[sbr]\.|eyj|npm_|pypi-|sg\.|hf_|shp[a-z]{2}_|do[opr]_v1_"
    r"|dapi|atatt|pmak-|sq0|mysql|mariadb|mongo|docker|podman|buildah|skopeo|helm|redis-cli"
    r"|sqlcmd|osql|bcp|ldap|zip|7z|curl|smbclient|sqlplus|thin:|hooks\.slack|discord"
)
_TRIGGER = rb"(?i:" + _TRIGGER_WORDS.encode() + rb")|SK[0-9a-f]{32}|[0-9]{8,10}:AA|Q~"


class _Trigger:
    """The compiled prefilter. RE2 runs it as it is; the stdlib engine is ~20x slower
    at case-insensitive matching, so it runs the lowercased pattern on lowercased
    bytes (same offsets; a wider match only adds candidate lines)."""

    def __init__(self, engine: str) -> None:
        self.lower = engine == "re"
        if self.lower:
            self.pattern: Any = re.compile(_TRIGGER.replace(b"(?i:", b"(?:").lower())
        else:
            opts = re2.Options()
            opts.encoding = re2.Options.Encoding.LATIN1  # bytes as they are, UTF-8 or not
            self.pattern = re2.compile(_TRIGGER, opts)

    def finditer(self, data: bytes) -> Iterable[Any]:
        return self.pattern.finditer(data.lower() if self.lower else data)


_TRIGGER_RE = _Trigger("re" if re2 is None else "re2")

# --- PEM / PGP private key blocks (multi-line, so before the line pass) ----------------
# The header and footer stay (the key's type is evidence), so do the line breaks
# around the body (real ones, or '\n' escapes in a JSON string). No footer (a
# truncated file): the body runs to the end.
_PEM_BEGIN = re.compile(rb"-{4,5} ?BEGIN ([A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?) ?-{4,5}")
_PEM_GAP = re.compile(rb"(?:\s|\\n)*")
_BMASK = MASK.encode()


def _pem(data: bytes) -> tuple[bytes, int]:
    out: list[bytes] = []
    pos = 0
    for m in _PEM_BEGIN.finditer(data):
        if m.start() < pos:
            continue  # inside the block before
        body = _PEM_GAP.match(data, m.end()).end()  # type: ignore[union-attr]
        end = data.find(b"END " + m.group(1), body)
        footer = len(data) if end < 0 else end - (data[end - 1:end] == b" ")
        while footer > body and data[footer - 1:footer] == b"-":
            footer -= 1
        tail = footer
        while tail > body and (data[tail - 1] in b" \t\r\n" or data[tail - 2:tail] == b"\\n"):
            tail -= 2 if data[tail - 2:tail] == b"\\n" else 1
        if data[body:tail] not in (b"", _BMASK):
            out += [data[pos:body], _BMASK]
            pos = tail
    if not out:
        return data, 0
    return b"".join([*out, data[pos:]]), len(out) // 2


# --- rules on one line ----------------------------------------------------------------

# scheme://user:password@host; the password may hold '/', ':' and '@' (the last '@'
# before the host wins). host:port/... is not userinfo. Anchored on the literal '://'
# and bounded, so a long line of near-URLs stays linear.
_URL = re.compile(
    r"(?<=[A-Za-z0-9])://[^\s\x00/:\"'<>]{0,256}:"
    r"(?!\d{1,5}(?:[/\s\x00\"'<>]|$))"
    r"(?P<pw>[^\s\x00@\"'<>]{0,256}(?:@[^\s\x00@/\"'<>?#]{0,256}){0,8})@(?=[^\s\x00@/\"'<>])"
)
# Oracle style user/password@db
_ORACLE = re.compile(
    r"(?i)(?:\bjdbc:oracle:[a-z]+:|\bsqlplus(?:\s+-\w+){0,8}\s+)[\w$#]+/(?P<pw>[^\s\x00@/\"']+)"
)
# webhook URLs whose path is the credential
_WEBHOOK = re.compile(
    r"(?i)(?:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|discord(?:app)?\.com/api/webhooks/\d+/)(?P<pw>[\w/\-]+)"
)
# Bearer <token> outside a header (logs): only when it looks like a token
_BEARER = re.compile(r"(?<![\w-])[Bb](?:earer|EARER)\s+(?P<pw>[A-Za-z0-9\-._~+/]+=*)")

# Shapes that are secrets wherever they appear.
_TOKENS = re.compile(
    r"(?<![\w.\-])(?:"
    r"xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9-]{8,}|xapp-\d-[A-Za-z0-9-]{8,}"  # Slack
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|gl(?:pat|dt|ptt|rt|soat|cbt|ft|imt|agent|oas)-[A-Za-z0-9_\-]{20,}"  # GitLab
    r"|(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"  # AWS access key ids
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,}"  # Stripe
    r"|AIza[0-9A-Za-z_\-]{35}|ya29\.[0-9A-Za-z_\-]{20,}|GOCSPX-[A-Za-z0-9_\-]{20,}"  # Google
    r"|hv[sbr]\.[A-Za-z0-9_\-]{20,}"  # Vault
    r"|eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"  # JWT
    r"|npm_[A-Za-z0-9]{30,}|pypi-[A-Za-z0-9_\-]{50,}"
    r"|SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"  # SendGrid
    r"|SK[0-9a-f]{32}"  # Twilio API key
    r"|sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"  # OpenAI, Anthropic
    r"|hf_[A-Za-z0-9]{30,}|shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|do[opr]_v1_[a-f0-9]{64}"
    r"|dapi[a-f0-9]{32}|ATATT3[A-Za-z0-9_\-=]{50,}|PMAK-[a-f0-9]{24}-[a-f0-9]{34}"
    r"|sq0(?:atp|csp)-[0-9A-Za-z_\-]{22,}"
    r"|AGE-SECRET-KEY-1[0-9A-Z]{58}"
    r"|\d{8,10}:AA[0-9A-Za-z_\-]{30,}"  # Telegram bot
    r"|[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}"  # Azure AD client secret
    r")(?![\w\-])"
)

# name = value, name: value, "name": "value", --name value, --name=value, -Dname=value
# found from a secret-ish word, the key around it is matched from its start
_KEY_WORD = re.compile(r"pw|pass|secret|token|key|auth|cred|sess|cookie|sig")  # on lower()
_KEY_WORD_I = re.compile(_KEY_WORD.pattern, re.I)  # when lower() changes the length
_KEY_RUN = re.compile(r"[\w.\-]*")
_NAME = re.compile(
    r"(?P<q>[\"']?)(?P<key>[A-Za-z_\-][\w.\-]*)(?P=q)"
    r"(?P<sep>[ \t]*(?:=>|:=|[=:])[ \t]*|[\s\x00]+)"
)
_XML = re.compile(
    r"<(?P<key>(?=[\w.\-:]*?(?i:pw|pass|secret|token|key|auth|cred|cookie|sig))[\w.\-:]+)>"
    r"(?P<pw>[^<\n]+)</(?P=key)>"
)
# Kubernetes / ECS env entries: {"name": "DB_PASSWORD", "value": "..."}
_NAME_VALUE = re.compile(
    r'"name"\s*:\s*"(?P<key>[\w.\-]+)"\s*,\s*"value"\s*:\s*"(?P<pw>(?:[^"\\\n]|\\.)*)"'
)
_SEG = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
# the key's last word says secret, whatever comes before it
_STRONG_END = (
    "password", "passwd", "passphrase", "secret", "token", "credential", "credentials",
    "creds", "cookie", "cookies", "signature", "apikey", "accesskey", "secretkey",
    "privatekey", "authkey", "signingkey", "encryptionkey", "masterkey", "storepass",
    "keypass", "sessionid", "sessid", "authtoken", "pwd", "authorization", "masterauth",
    "requirepass",
)
_STRONG = {"pass", "pw", "pswd", "passin", "passout", "auth"}
# words that only say secret with a qualifier (api_key, not sort_key) or alone in a
# query string or as a flag (?key=, --sig)
_WEAK = {"key", "keys", "sig", "session"}
_KEY_QUALIFIERS = {
    "api", "access", "secret", "private", "encryption", "encrypt", "decryption", "signing",
    "sign", "master", "client", "account", "app", "auth", "shared", "hmac", "license",
    "licence", "session", "webhook", "storage", "crypto", "crypt", "cipher", "enc", "aes",
    "jwt", "ssh", "deploy", "admin", "root", "service", "consumer", "subscription", "sas",
    "ssl", "tls", "gpg", "pgp", "recovery", "unseal", "seal", "user", "secure",
}
# trailing words that do not change what the value is (SECRET_KEY_BASE, api_key_b64)
_FILLER = {"value", "val", "base", "b64", "base64", "hex", "enc", "encoded", "plain",
           "plaintext", "raw", "str", "string", "data", "txt", "text"}
# values that are not secrets: flags, placeholders, masks (and empty: evidence too)
_NOT_SECRET = re.compile(
    r"(?i)(?:true|false|yes|no|on|off|null|none|nil|undefined|required|optional|"
    r"enabled|disabled|\*+|x{3,}|<[\w .\-]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|(?-i:\$(?:[A-Z]+_)*[A-Z]+)|"
    r"%\([\w]+\)s|\[REDACTED\])"
)
_AUTH_MECHS = {
    "basic", "bearer", "digest", "kerberos", "ntlm", "ldap", "oauth", "oauth2", "oidc",
    "saml", "token", "password", "jwt", "mtls", "tls", "md5", "scram-sha-256", "trust",
    "peer", "ident", "cert", "sasl", "plain", "gssapi", "negotiate", "anonymous", "iam",
}
_AUTH_SCHEMES = _AUTH_MECHS | {
    "aws4-hmac-sha256", "splunk", "key", "apikey", "ssws", "googlelogin", "sharedkey",
    "sharedkeylite", "hmac", "dsn", "bot", "klaviyo-api-key",
}
# a path to a key or credential file is evidence, not the secret
_PATH = re.compile(
    r"(?:~|\.{1,2})?/(?:(?:etc|run|var|home|opt|srv|tmp|usr|root|mnt|data|secrets|app|"
    r"config|conf|certs?|keys|ssl|private|keystores?|proc)(?:/[\w.@\-]*)*|"
    r"(?:[\w.@\-]+/)*[\w@\-]+\.(?:pem|key|crt|cer|der|p12|pfx|jks|keystore|truststore|"
    r"json|asc|gpg|pub|ppk|keytab|txt|conf|cfg|ini|ya?ml|properties|env))|file:\S+|classpath:\S+"
)
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_UNQUOTED = re.compile(r"[^\s\x00\"'&;,]*")
_QUERY_VALUE = re.compile(r"[^\s\x00\"'&;,#]*")
_PATH_PARAM_VALUE = re.compile(r"[^\s\x00\"'&;,#?]*")
_ARG = re.compile(r"[^\s\x00]*")


def _words(key: str) -> list[str]:
    if key.startswith("-D") and len(key) > 2:
        key = key[2:]  # -Dspring.datasource.password
    words = [w.lower() for w in _SEG.findall(key)]
    while len(words) > 1 and words[-1] in _FILLER:
        words.pop()
    return words


def _secret_name(key: str, context: str) -> bool:
    """Whether the key names a secret; context is 'query', 'flag' or 'plain'."""
    words = _words(key)
    if not words:
        return False
    last = words[-1]
    prev = words[-2] if len(words) > 1 else ""
    if prev == "no":  # --no-password
        return False
    if last in _STRONG or last.endswith(_STRONG_END):
        return True
    if last == "id" and prev == "session":
        return True
    if last in _WEAK:
        if len(words) == 1:
            return context != "plain"
        return last == "sig" or prev in _KEY_QUALIFIERS
    return False


_QUOTED = {q: re.compile(rf"{q}(?:[^{q}\\\n]|\\.)*{q}?") for q in "\"'"}
_ENV_VALUE = re.compile(r"[^\x00\r\n]*")
_HEADER_END = {q: re.compile(f"[\x00\n{q}]") for q in ("", "\"", "'", "\"'")}
_SCHEME = re.compile(r"([A-Za-z][\w\-]*)([ \t]+)(\S.*)")
_COOKIE = re.compile(r"(?<![^;,:\s])([^=;,:\s]+)=([^;\s\x00]*)")  # names start after a separator


def _quoted_end(line: str, start: int) -> int:
    """End (after the closing quote) of the quoted string at start; the line end if open."""
    return _QUOTED[line[start]].match(line, start).end()  # type: ignore[union-attr]


def _rest_end(line: str, start: int, quotes: str = "\"'") -> int:
    """End of a header value: the line, a NUL or a closing quote."""
    m = _HEADER_END[quotes].search(line, start)
    return m.start() if m else len(line)


def _strip_closers(v: str) -> str:
    """password=abc) inside Config(password=abc): the ')' is structure, not value."""
    end = len(v)
    for close, open_ in ((")", "("), ("]", "["), ("}", "{")):
        extra = v.count(close) - v.count(open_)
        while extra > 0 and end and v[end - 1] == close:
            end -= 1
            extra -= 1
    return v[:end]


class _Line:
    """Collects the spans to mask on one line, then masks them."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.cuts: list[tuple[int, int]] = []

    def mask(self, start: int, end: int) -> None:
        value = self.line[start:end]
        if not value or _NOT_SECRET.fullmatch(value):
            return
        self.cuts.append((start, end))

    def mask_quoted_or_plain(self, start: int, end: int) -> None:
        v = self.line[start:end]
        if len(v) >= 2 and v[0] in "\"'" and v[-1] == v[0]:
            self.mask(start + 1, end - 1)
        elif v and v[0] in "\"'":
            self.mask(start + 1, end)
        else:
            self.mask(start, end)

    def apply(self) -> tuple[str, int]:
        """The line with each cut masked; overlapping cuts (two rules, one secret)
        become one mask."""
        if not self.cuts:
            return self.line, 0
        merged: list[list[int]] = []
        for start, end in sorted(self.cuts):
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        out: list[str] = []
        pos = 0
        for start, end in merged:
            out += [self.line[pos:start], MASK]
            pos = end
        out.append(self.line[pos:])
        return "".join(out), len(merged)


def _key_at(line: str, word: int) -> re.Match[str] | None:
    """`key<sep>` around the secret-ish word at `word`: the key starts where the run
    of key characters before it starts (so `monkey` is one key, not `key`)."""
    i = word
    while i and (line[i - 1].isalnum() or line[i - 1] in "_.-"):
        i -= 1
    if i and line[i - 1] in "\"'":
        m = _NAME.match(line, i - 1)
        if m:
            return m
    return _NAME.match(line, i)


def _names(ln: _Line) -> None:
    line = ln.line
    low = line.lower()  # a case-insensitive search is ~5x slower in `re`
    words = _KEY_WORD.finditer(low) if len(low) == len(line) else _KEY_WORD_I.finditer(line)
    pos = 0
    for w in words:
        if w.start() < pos:
            continue  # inside a key or a value already dealt with
        m = _key_at(line, w.start())
        if m is None:  # no separator after it: skip the whole word, once
            pos = _KEY_RUN.match(line, w.start()).end()  # type: ignore[union-attr]
            continue
        pos = m.end("key")
        key = m.group("key")
        sep = m.group("sep")
        start = m.start("q")
        before = line[start - 1] if start else "\n"
        flag = key.startswith("-")
        space_sep = "=" not in sep and ":" not in sep  # --password VALUE
        if space_sep and (not flag or (key[1] != "-" and not key.islower())):
            continue  # VALUE after a space only for flags; -pDumpPw9 is -p with a value
        # -Dsession=... is a property like any other: a bare 'key' or 'session' needs a
        # qualifier there, as in a config file
        context = ("plain" if key.startswith("-D") else "flag" if flag else
                   "query" if before in "?&;" else "plain")
        lkey = key.lower()
        vs = m.end()
        if lkey in ("authorization", "proxy-authorization") and not space_sep:
            pos = _auth_header(ln, vs, before if before in "\"'" else "")
            continue
        if lkey in ("cookie", "set-cookie") and ":" in sep:
            pos = _cookie_header(ln, vs, first_only=lkey == "set-cookie")
            continue
        if not _secret_name(key, context):
            continue
        if vs >= len(line):
            continue
        if space_sep:
            if line[vs] in "\"'":
                ve = _quoted_end(line, vs)
            else:
                if line[vs] == "-":
                    continue  # the flag has no value: the next token is another flag
                ve = _ARG.match(line, vs).end()  # type: ignore[union-attr]
        elif line[vs] in "\"'":
            ve = _quoted_end(line, vs)
        elif (sep == "=" and before in "\x00\n" and
              _ENV_NAME.fullmatch(key)):
            ve = _ENV_VALUE.match(line, vs).end()  # type: ignore[union-attr]
        elif flag:  # --password=a;b,c: an argv entry ends at whitespace or NUL only
            ve = vs + len(_strip_closers(_ARG.match(line, vs).group()))  # type: ignore[union-attr]
        else:
            # in a URL '#' starts the fragment, and after ;jsessionid= '?' the query
            unquoted = (_UNQUOTED if context != "query" else
                        _PATH_PARAM_VALUE if before == ";" else _QUERY_VALUE)
            ve = vs + len(_strip_closers(unquoted.match(line, vs).group()))  # type: ignore[union-attr]
        pos = max(pos, ve)  # a value kept is not searched again (stays linear)
        value = line[vs:ve].strip("\"'")
        if sep == ":" and line[vs] not in "\"'" and (
                before == "/" or (value.isdigit() and _words(key)[-1] == "auth")):
            continue  # http://token:..., auth:8080: host:port, not a key: value
        if (key in ("PWD", "OLDPWD") and value.startswith("/")) or key == "XDG_SESSION_ID":
            continue  # the shell's working directory; logind's session number
        if _PATH.fullmatch(value):
            continue
        if "auth" in _words(key)[-1] and value.lower() in _AUTH_MECHS:
            continue  # auth=kerberos names a mechanism
        ln.mask_quoted_or_plain(vs, ve)


def _auth_header(ln: _Line, vs: int, enclosing: str) -> int:
    """Authorization: <scheme> <credentials>: the scheme stays. The value runs to the
    line's end, or to the quote that encloses the whole header (curl -H '...')."""
    line = ln.line
    if vs < len(line) and line[vs] in "\"'":
        end = _quoted_end(line, vs)
        vs, ve = vs + 1, end - (1 if line[end - 1] == line[vs] and end - 1 > vs else 0)
    else:
        ve = _rest_end(line, vs, enclosing)
    value = line[vs:ve]
    m = _SCHEME.match(value)
    if m and m.group(1).lower() in _AUTH_SCHEMES:
        ln.mask(vs + m.start(3), vs + len(value.rstrip()))
    else:
        ln.mask(vs, vs + len(value.rstrip()))
    return max(ve, vs + 1)  # the header's value is done: go on after it


def _cookie_header(ln: _Line, vs: int, first_only: bool) -> int:
    """Cookie: a=x; b=y masks x and y (the names stay); Set-Cookie only the first."""
    ve = _rest_end(ln.line, vs)
    for m in _COOKIE.finditer(ln.line, vs, ve):
        ln.mask(m.start(2), m.end(2))
        if first_only:
            break
    return max(ve, vs + 1)


# commands whose short flag carries the password: (command, flag forms)
# attached: -pSECRET; spaced: -p SECRET. Only after the command word and before the
# next command in a pipeline; sshpass: the first one only (then ssh -p is a port).
def _cmd(names: str, flag: str, attached: bool, spaced: bool
         ) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The command (a whole argv word, maybe with its path) and its password flag."""
    forms = []
    if attached:
        forms.append(rf"-{flag}(?P<pw>[^\s\x00]+)")
    if spaced:
        forms.append(rf"-{flag}[\s\x00]+(?P<pw2>[^\s\x00\-][^\s\x00]*)")
    return (re.compile(rf"(?:^|(?<=[\s\x00/]))(?:{names})(?=[\s\x00]|$)"),
            re.compile(rf"(?<=[\s\x00])(?:{'|'.join(forms)})(?=[\s\x00]|$)"))


_CMD_FLAGS: list[tuple[tuple[str, ...], re.Pattern[str], re.Pattern[str], bool]] = [
    # words one of which the line must hold, (command, flag), first only
    # mysql -p DB prompts, DB is no password
    (("mysql", "mariadb"),
     *_cmd(r"(?:mysql|mariadb-?)(?:dump|admin|import|check|show|pump|slap|binlog|sh)?",
           "p", True, False), False),
    (("sshpass",), *_cmd("sshpass", "p", True, True), True),
    (("mongo",), *_cmd(r"mongo(?:sh|dump|restore|export|import)?", "p", True, True), False),
    (("login",),
     *_cmd(r"(?:docker|podman|buildah|skopeo|helm)[\s\x00]+(?:[^\s\x00]+[\s\x00]+){0,4}?login",
           "p", False, True), False),
    (("redis-cli",), *_cmd("redis-cli", "a", True, True), False),
    (("sqlcmd", "osql", "bcp", "zip"), *_cmd("sqlcmd|osql|bcp|zip|unzip", "P", True, True), False),
    (("7z",), *_cmd("7z|7za", "p", True, False), False),
    (("ldap",), *_cmd(r"ldap\w+", "w", True, True), False),
]
_CURL = re.compile(r"\bcurl\b")
_CURL_USER = re.compile(r"(?<=[\s\x00])(?:-[uU]|--user|--proxy-user)(?:[\s\x00]+|=)?"
                        r"(?P<user>[^\s\x00:\"'-][^\s\x00:\"']*|\"[^\":]*|'[^':]*):"
                        r"(?!//)(?P<pw>[^\s\x00\"']+)")
_SMB_USER = re.compile(r"(?<=[\s\x00])(?:-U|--user)(?:[\s\x00]+|=)?[^\s\x00%]+%(?P<pw>[^\s\x00]+)")
_PIPE = re.compile(r"\s(?:\|\|?|;|&&)\s")


def _segment_end(line: str, start: int) -> int:
    m = _PIPE.search(line, start)
    return m.start() if m else len(line)


def _after_command(ln: _Line, cmd: re.Pattern[str], flag: re.Pattern[str], first: bool) -> None:
    """Masks the flag's value between each command word and the end of its pipeline
    segment; each segment is scanned once (mysql mysql mysql ... stays linear)."""
    line = ln.line
    done = 0
    for c in cmd.finditer(line):
        if c.start() < done:
            continue
        done = _segment_end(line, c.end())
        for m in flag.finditer(line, c.end(), done):
            ln.mask(*_pw_span(m))
            if first:
                break


def _commands(ln: _Line) -> None:
    line = ln.line
    for words, cmd, pat, first in _CMD_FLAGS:
        if any(w in line for w in words):
            _after_command(ln, cmd, pat, first)
    if "curl" in line:
        _after_command(ln, _CURL, _CURL_USER, False)
    if "smbclient" in line:
        for m in _SMB_USER.finditer(line):
            ln.mask(*_pw_span(m))


def _pw_span(m: re.Match[str]) -> tuple[int, int]:
    """The span of the password group that took part in the match."""
    for name, v in m.groupdict().items():
        if name.startswith("pw") and v is not None:
            return m.span(name)
    return m.span()


def _spans(ln: _Line, pattern: re.Pattern[str], group: str | int = "pw",
           keep: Callable[[str], bool] | None = None) -> None:
    for m in pattern.finditer(ln.line):
        if keep is not None and keep(m.group(group)):
            continue
        ln.mask(m.start(group), m.end(group))


def _looks_like_token(v: str) -> bool:
    return len(v) >= 20 or any(c.isdigit() for c in v)


def _redact_line(line: str) -> tuple[str, int]:
    ln = _Line(line)
    low = line.lower()  # cheap 'in' checks spare the rules that cannot match
    if "://" in line:
        _spans(ln, _URL)
    if "oracle" in low or "sqlplus" in low:
        _spans(ln, _ORACLE)
    if "hooks.slack" in low or "discord" in low:
        _spans(ln, _WEBHOOK)
    if "bearer" in low:
        _spans(ln, _BEARER, keep=lambda v: not _looks_like_token(v))
    _commands(ln)
    _names(ln)
    if '"value"' in line:
        for m in _NAME_VALUE.finditer(line):
            if _secret_name(m.group("key"), "plain"):
                ln.mask(m.start("pw"), m.end("pw"))
    if "</" in line:
        for m in _XML.finditer(line):
            if _secret_name(m.group("key"), "plain"):
                ln.mask(m.start("pw"), m.end("pw"))
    _spans(ln, _TOKENS, group=0)
    return ln.apply()


# --- the pass over a whole file -------------------------------------------------------

def _candidate_lines(data: bytes) -> Iterable[tuple[int, int]]:
    """(start, end) of each line that holds a trigger, in order, each once."""
    line_end = -1
    for m in _TRIGGER_RE.finditer(data):
        s = m.start()
        if s < line_end:
            continue
        start = data.rfind(b"\n", 0, s) + 1
        line_end = data.find(b"\n", s)
        if line_end < 0:
            line_end = len(data)
        yield start, line_end


def _redact(data: bytes, errors: str) -> tuple[bytes, int]:
    hidden = 0
    if b"PRIVATE KEY" in data:
        data, hidden = _pem(data)
    out: list[bytes] = []
    pos = 0
    seen: dict[bytes, tuple[bytes, int]] = {}  # dumps repeat their lines
    for start, end in _candidate_lines(data):
        raw = data[start:end]
        done = seen.get(raw)
        if done is None:
            text, n = _redact_line(raw.decode("utf-8", errors))
            done = seen[raw] = (text.encode("utf-8", errors) if n else raw, n)
        if done[1]:
            out.append(data[pos:start])
            out.append(done[0])
            pos = end
            hidden += done[1]
    if not out:
        return data, hidden
    out.append(data[pos:])
    return b"".join(out), hidden


def redact_text(text: str) -> tuple[str, int]:
    """Returns the redacted text and how many secrets were hidden."""
    # surrogatepass: any str round-trips, lone surrogates included
    data = text.encode("utf-8", "surrogatepass")
    out, n = _redact(data, "surrogatepass")
    return (out.decode("utf-8", "surrogatepass") if out is not data else text), n


def redact(text: str) -> str:
    return redact_text(text)[0]


def redact_bytes(data: bytes) -> tuple[bytes, int]:
    """Raw artifacts are bytes; undecodable bytes pass through unchanged."""
    return _redact(data, "surrogateescape")
