"""The classic dkim-filter/opendkim configuration format (dkim.conf, opendkim.conf(5)).

One ``Key value`` per line, ``#`` comments, case-insensitive keys. Every key opendkim.conf(5)
and dkim-filter.conf document is accepted; a key nobody knows is a ConfigError (exit 78)
naming the file and line, so a typo never silently disables a setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dkimtool.core.errors import ConfigError

# Keys the command-line tools use.
CLI_KEYS = (
    "Domain",
    "Selector",
    "KeyFile",
    "Canonicalization",
    "SignatureAlgorithm",
    "SignHeaders",
    "OversignHeaders",
    "MinimumKeyBits",
    "Nameservers",
    "DNSTimeout",
)
# opendkim.conf(5) (OpenDKIM 2.11), plus keys of the older dkim-filter.conf and the milter.
OTHER_KEYS = [
    "AllowSHA1Only",
    "AlwaysAddARHeader",
    "AuthservID",
    "AuthservIDWithJobID",
    "AutoRestart",
    "AutoRestartCount",
    "AutoRestartRate",
    "Background",
    "BaseDirectory",
    "BodyLengthDB",
    "BogusKey",
    "CaptureUnknownErrors",
    "ChangeRootDirectory",
    "ClockDrift",
    "Diagnostics",
    "DiagnosticDirectory",
    "DisableCryptoInit",
    "DNSConnect",
    "DomainKeysCompat",
    "DontSignMailTo",
    "EnableCoredumps",
    "ExemptDomains",
    "ExternalIgnoreList",
    "FinalPolicyScript",
    "FixCRLF",
    "IdentityHeader",
    "IdentityHeaderRemove",
    "IgnoreMalformedMail",
    "Include",
    "InternalHosts",
    "KeepAuthResults",
    "KeepTemporaryFiles",
    "KeyTable",
    "LDAPAuthMechanism",
    "LDAPAuthName",
    "LDAPAuthRealm",
    "LDAPAuthUser",
    "LDAPBindPassword",
    "LDAPBindUser",
    "LDAPDisableCache",
    "LDAPKeepaliveIdle",
    "LDAPKeepaliveInterval",
    "LDAPKeepaliveProbes",
    "LDAPTimeout",
    "LDAPUseTLS",
    "LogResults",
    "LogWhy",
    "MacroList",
    "MaximumHeaders",
    "MaximumSignaturesToVerify",
    "MaximumSignedBytes",
    "MilterDebug",
    "Minimum",
    "Mode",
    "MTA",
    "MTACommand",
    "MultipleSignatures",
    "MustBeSigned",
    "NoHeaderB",
    "OmitHeaders",
    "On-BadSignature",
    "On-Default",
    "On-DNSError",
    "On-InternalError",
    "On-KeyNotFound",
    "On-NoSignature",
    "On-Security",
    "On-SignatureError",
    "PeerList",
    "PidFile",
    "POPDBFile",
    "Quarantine",
    "QueryCache",
    "RedirectFailuresTo",
    "RemoveARAll",
    "RemoveARFrom",
    "RemoveOldSignatures",
    "ReplaceHeaders",
    "ReplaceRules",
    "ReportAddress",
    "ReportBccAddress",
    "RequestReports",
    "RequiredHeaders",
    "RequireSafeKeys",
    "ResignAll",
    "ResignMailTo",
    "ResolverConfiguration",
    "ResolverTracing",
    "ScreenPolicyScript",
    "SelectCanonicalizationHeader",
    "SenderHeaders",
    "SenderMacro",
    "SendReports",
    "SetupPolicyScript",
    "SignatureTTL",
    "SigningTable",
    "SMTPURI",
    "Socket",
    "SoftStart",
    "SoftwareHeader",
    "Statistics",
    "StatisticsName",
    "StatisticsPolicyScript",
    "StatisticsPrefix",
    "StrictHeaders",
    "StrictTestMode",
    "SubDomains",
    "Syslog",
    "SyslogFacility",
    "SyslogName",
    "SyslogSuccess",
    "TemporaryDirectory",
    "TestDNSData",
    "TestPublicKeys",
    "TrustAnchorFile",
    "TrustSignaturesFrom",
    "UMask",
    "UnprotectedKey",
    "UserID",
    "VBR-Certifiers",
    "VBR-PurgeFields",
    "VBR-TrustedCertifiers",
    "VBR-TrustedCertifiersOnly",
    "VBR-Type",
    "WeakSyntaxChecks",
    "X-Header",
    "ADSPAction",
    "ADSPDiscard",
    "ADSPNoSuchDomain",
    "AlwaysSignHeaders",
    "BodyLengths",
    "DontSignHeaders",
    "LocalADSP",
    "SendADSPReports",
    "SignatureAlgorithm",
]
KNOWN_KEYS = {key.lower(): key for key in (*CLI_KEYS, *OTHER_KEYS)}
_TRUE = {"yes", "true", "1", "y", "t", "on"}
_FALSE = {"no", "false", "0", "n", "f", "off"}
_LINE_RE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)(?:[ \t]+(.*))?\Z")


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    key: str  # canonical spelling
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class DkimConfig:
    path: Path
    entries: dict[str, ConfigEntry] = field(default_factory=dict)  # by lower-case key

    def get(self, key: str) -> str | None:
        entry = self.entries.get(key.lower())
        return None if entry is None else entry.value

    def entry(self, key: str) -> ConfigEntry | None:
        return self.entries.get(key.lower())

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError pointing at KEY's line."""
        entry = self.entries.get(key.lower())
        return ConfigError(message, path=str(self.path), line=entry.line if entry else None)

    def get_bool(self, key: str) -> bool | None:
        value = self.get(key)
        if value is None:
            return None
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self.error(key, f"{key}: expected yes or no, got {value!r}")

    def get_int(self, key: str) -> int | None:
        value = self.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise self.error(key, f"{key}: expected a number, got {value!r}") from None

    def get_path(self, key: str) -> str | None:
        """A path value; relative paths are relative to the config file's directory."""
        value = self.get(key)
        if value is None:
            return None
        return str(self.path.parent / value) if not value.startswith("/") else value

    def get_list(self, key: str, separators: str = ",") -> list[str] | None:
        value = self.get(key)
        if value is None:
            return None
        return [
            item.strip() for item in re.split(f"[{re.escape(separators)}]", value) if item.strip()
        ]

    def ignored_keys(self) -> list[str]:
        """Keys present that the command-line tools do not use (reported at -v)."""
        cli = {key.lower() for key in CLI_KEYS}
        return [e.key for k, e in self.entries.items() if k not in cli]


def parse_config(text: str, path: Path) -> DkimConfig:
    entries: dict[str, ConfigEntry] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        match = _LINE_RE.match(line)
        if not match:
            raise ConfigError(f"malformed line {raw.strip()!r}", path=str(path), line=number)
        key, value = match.group(1), (match.group(2) or "").strip()
        canonical = KNOWN_KEYS.get(key.lower())
        if canonical is None:
            raise ConfigError(f"unknown key {key!r}", path=str(path), line=number)
        if not value:
            raise ConfigError(f"{canonical} has no value", path=str(path), line=number)
        entries[key.lower()] = ConfigEntry(canonical, value, number)
    return DkimConfig(path=path, entries=entries)


def load_config(path: str) -> DkimConfig:
    """Read and parse a config file; unreadable or invalid files raise ConfigError (78)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=path) from None
    return parse_config(text, Path(path))


def _strip_comment(line: str) -> str:
    """Drop a ``#`` comment: at the start of a line, or after white space."""
    match = re.search(r"(^|[ \t])#", line)
    return line if match is None else line[: match.start()]
