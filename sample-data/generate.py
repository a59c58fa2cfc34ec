#!/usr/bin/env python3
"""Remakes tenant.json and alert-ids.txt: the simulator's sample tenant and a matching input file.

Deterministic (fixed seed), standard library only. Run from anywhere:
    python3 sample-data/generate.py
"""

import json
import os
import random

SEED = 20240917
HERE = os.path.dirname(os.path.abspath(__file__))
ODD_NAME = 'José "JJ" Núñez, Jr.'

# (domain, name, sid or None for a domain SID, logonTypes, domain admin)
ACCOUNTS = [
    ("contoso", "jdoe", None, "Interactive", False),
    ("contoso", "asmith", None, "Interactive, Network", False),
    ("contoso", "bwilson", None, "Interactive", False),
    ("contoso", "cnguyen", None, "RemoteInteractive", False),
    ("contoso", "dpatel", None, "Interactive, Network", False),
    ("contoso", "egarcia", None, "Interactive", False),
    ("contoso", "fmuller", None, "Network", False),
    ("contoso", "gkowalski", None, "Interactive", False),
    ("contoso", "hsato", None, "Interactive, RemoteInteractive", False),
    ("contoso", "ijohansson", None, "Interactive", False),
    ("contoso", "jlee", None, "Network", False),
    ("contoso", "kobrien", None, "Interactive, Network", False),
    ("contoso", "lrossi", None, "Interactive", False),
    ("contoso", "mchen", None, "RemoteInteractive", False),
    ("contoso", "nkumar", None, "Interactive", False),
    ("contoso", "oadeyemi", None, "Interactive, Network", False),
    ("contoso", "pdubois", None, "Interactive", False),
    ("contoso", "qzhang", None, "Network", False),
    ("contoso", "rsilva", None, "Interactive", False),
    ("contoso", "tvanderberg", None, "Interactive, Network", False),
    ("contoso", "admin-jdoe", None, "RemoteInteractive, Network", True),
    ("contoso", "admin-asmith", None, "RemoteInteractive", True),
    ("contoso", "da-ops", None, "Interactive, RemoteInteractive, Network", True),
    ("contoso", "svc-backup", None, "Batch, Network", False),
    ("contoso", "svc-sql", None, "Service", False),
    ("contoso", "svc-sccm", None, "Service, Network", False),
    ("contoso", "svc-print", None, "Service", False),
    ("contoso", "svc-adsync", None, "Network", False),
    ("contoso", "helpdesk01", None, "Interactive, RemoteInteractive", False),
    ("contoso", "kiosk-lobby", None, "Interactive", False),
    ("contoso", "josé.núñez", None, "Interactive", False),
    ("contoso", "zoë.öztürk", None, "Interactive, Network", False),
    ("fabrikam", "svc-backup", None, "Batch", False),
    ("fabrikam", "mgarcia", None, "Interactive", False),
    ("fabrikam", "pwright", None, "Interactive, Network", False),
    ("fabrikam", "rthompson", None, "RemoteInteractive", False),
    ("fabrikam", "sjackson", None, "Interactive", False),
    ("fabrikam", "admin-sjackson", None, "RemoteInteractive", True),
    ("fabrikam", "svc-web", None, "Network", False),
    ("fabrikam", "svc-ftp", None, "Network", False),
    ("fabrikam", "lmartin", None, "Interactive", False),
    ("fabrikam", "ywang", None, "Interactive, Network", False),
    ("northwind", "acarter", None, "Interactive", False),
    ("northwind", "bmorris", None, "Network", False),
    ("northwind", "svc-erp", None, "Service", False),
    ("northwind", "cbaker", None, "Interactive", False),
    ("northwind", "admin-cbaker", None, "RemoteInteractive", True),
    ("desktop-7h2k9qf", "localadmin", None, "Interactive", False),
    ("desktop-7h2k9qf", "defaultaccount", None, None, False),
    ("srv-file01", "administrator", None, "RemoteInteractive, Network", False),
    ("laptop-0042", "student", None, "Interactive", False),
    ("NT AUTHORITY", "SYSTEM", "S-1-5-18", "Service", False),
    ("NT AUTHORITY", "NETWORK SERVICE", "S-1-5-20", "Service", False),
    ("NT AUTHORITY", "LOCAL SERVICE", "S-1-5-19", "Service", False),
    ("NT AUTHORITY", "ANONYMOUS LOGON", "S-1-5-7", "Network", False),
    ("Window Manager", "DWM-1", "S-1-5-90-0-1", "Interactive", False),
    ("Window Manager", "DWM-3", "S-1-5-90-0-3", "Interactive", False),
    ("Font Driver Host", "UMFD-0", "S-1-5-96-0-0", "Interactive", False),
    ("Font Driver Host", "UMFD-1", "S-1-5-96-0-1", "Interactive", False),
    ("contoso", "guest", None, "Network", False),
]

DOMAIN_SIDS = {
    "contoso": "S-1-5-21-1004336348-1177238915-682003330",
    "fabrikam": "S-1-5-21-3623811015-3361044348-30300820",
    "northwind": "S-1-5-21-2127521184-1604012920-1887927527",
    "desktop-7h2k9qf": "S-1-5-21-1658427373-2957302640-3712840447",
    "srv-file01": "S-1-5-21-854245398-1035525444-1417001333",
    "laptop-0042": "S-1-5-21-3297834502-2843190291-2590216387",
}


def hex40(rng):
    return "".join(rng.choice("0123456789abcdef") for _ in range(40))


def stamp(seconds):
    import datetime

    t = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    t += datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_accounts(rng):
    accounts = []
    for rid, (domain, name, sid, logon, admin) in enumerate(ACCOUNTS, start=1104):
        accounts.append({
            "domain": domain,
            "name": name,
            "sid": sid or f"{DOMAIN_SIDS[domain]}-{rid}",
            "logonTypes": logon,
            "isDomainAdmin": admin,
            "machine": hex40(rng),
            "least": hex40(rng) if rng.random() < 0.5 else None,
            "machines": rng.randint(1, 60),
        })
    return accounts


def recase(rng, domain, name):
    """The API echoes whatever casing the sensor saw, so one account shows up several ways."""
    style = rng.choice(["asis", "asis", "upper-domain", "upper", "title"])
    if style == "upper-domain":
        return domain.upper(), name
    if style == "upper":
        return domain.upper(), name.upper()
    if style == "title":
        return domain.title(), name.title()
    return domain, name


def make_user(rng, acct, quirk):
    domain, name = recase(rng, acct["domain"], acct["name"])
    first = rng.randint(0, 300 * 86400)
    user = {
        "id": f"{domain}\\{name}",
        # One person whose display name needs every CSV escape: comma, quotes, non-ASCII.
        "accountName": ODD_NAME if acct["name"] == "josé.núñez" else name,
        "accountDomain": domain,
        "accountSid": acct["sid"],
        "firstSeen": stamp(first),
        "lastSeen": stamp(first + rng.randint(3600, 120 * 86400)),
        "mostPrevalentMachineId": acct["machine"],
        "leastPrevalentMachineId": acct["least"],
        "logonTypes": acct["logonTypes"],
        "logOnMachinesCount": acct["machines"] + rng.randint(0, 3),
        "isDomainAdmin": acct["isDomainAdmin"],
        "isOnlyNetworkUser": acct["logonTypes"] == "Network",
    }
    if quirk == "alias":
        user["accountDomainName"] = user.pop("accountDomain")
        user["logonMachinesCount"] = user.pop("logOnMachinesCount")
    elif quirk == "nulls":
        for key in ("accountSid", "mostPrevalentMachineId", "logonTypes", "isOnlyNetworkUser"):
            user[key] = None
    elif quirk == "missing":
        for key in ("accountName", "leastPrevalentMachineId", "logOnMachinesCount"):
            del user[key]
    elif quirk == "extra":
        user["userPrincipalName"] = f"{acct['name']}@{acct['domain']}.com"
        user["riskLevel"] = rng.choice(["Low", "Medium", "High"])
    elif quirk == "odd-sid":
        user["accountSid"] = 'S-1-5-21-"quoted",\\odd'
    return user


def alert_id(rng):
    shape = rng.random()
    if shape < 0.35:
        return f"{rng.randint(636500000000000000, 637199999999999999)}_{rng.randint(-2**31, 2**31 - 1)}"
    if shape < 0.85:
        return f"da{rng.randint(637200000000000000, 638799999999999999)}_{rng.randint(-2**31, 2**31 - 1)}"
    g = "%08x-%04x-%04x-%04x-%012x" % (
        rng.getrandbits(32), rng.getrandbits(16), 0x4000 | rng.getrandbits(12),
        0x8000 | rng.getrandbits(14), rng.getrandbits(48))
    return f"da{g}_{rng.randint(1, 3)}"


def unique_ids(rng, count, taken):
    out = []
    while len(out) < count:
        candidate = alert_id(rng)
        if candidate not in taken:
            taken.add(candidate)
            out.append(candidate)
    return out


QUIRKS = ["alias"] * 5 + ["nulls"] * 4 + ["missing"] * 3 + ["extra"] * 5 + ["odd-sid"]


def make_tenant(rng, accounts, user_ids, null_ids, empty_ids):
    quirks = QUIRKS + [None] * (len(user_ids) - len(QUIRKS))
    rng.shuffle(quirks)
    alerts = {}
    for i, aid in enumerate(user_ids):
        # Every account gets at least three alerts; the rest go to a few busy accounts.
        acct = accounts[i % len(accounts)] if i < 3 * len(accounts) else rng.choice(accounts[:12])
        alerts[aid] = make_user(rng, acct, quirks[i])
    for aid in null_ids:
        alerts[aid] = None
    for aid in empty_ids:
        alerts[aid] = "empty"
    keys = list(alerts)
    rng.shuffle(keys)
    return {"alerts": {k: alerts[k] for k in keys}}


INVALID = [
    "da637308392288907382 _-880718168",
    "636688558380765161/2136280442",
    "da637399989469816469_51697947354?",
    "da637399989469816469_5169%20947354",
    "da637308392288907382_-880718168.1",
    "da6373083922889073é2_-880718168",
    "da" + "6374" * 74 + "_1",
]


def make_lines(rng, tenant_ids, missing_ids):
    ids = tenant_ids + missing_ids
    rng.shuffle(ids)
    lines = [id_ for id_ in ids]
    for dup in rng.sample(ids, 20):
        lines.insert(rng.randint(len(lines) // 4, len(lines)), dup)
    for i in rng.sample(range(20, len(lines)), 5):
        lines[i] = rng.choice(["  ", " ", "\t "]) + lines[i] + rng.choice(["", "  ", " \t"])
    for _ in range(12):
        lines.insert(rng.randint(1, len(lines)), "")
    lines.insert(len(lines) // 3, "# batch 2: incidents escalated by the SOC")
    lines.insert(2 * len(lines) // 3, "# batch 3: nightly export")
    middle = len(lines) // 2
    for offset, bad in enumerate(INVALID):
        lines.insert(middle + 3 * offset, bad)
    header = [
        "# Alert IDs for alert-users: one per line; blank lines and lines starting with # are skipped.",
        "# Sample input for the built-in simulator (sample-data/tenant.json); made by generate.py.",
    ]
    crlf = set(rng.sample(range(len(header), len(header) + len(lines)), 6))
    out = []
    for i, line in enumerate(header + lines):
        out.append(line + ("\r\n" if i in crlf else "\n"))
    return "".join(out)


def main():
    rng = random.Random(SEED)
    accounts = make_accounts(rng)
    taken = set(INVALID)
    user_ids = unique_ids(rng, 262, taken)
    null_ids = unique_ids(rng, 15, taken)
    empty_ids = unique_ids(rng, 3, taken)
    missing_ids = unique_ids(rng, 15, taken)
    tenant = make_tenant(rng, accounts, user_ids, null_ids, empty_ids)
    with open(os.path.join(HERE, "tenant.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(tenant, f, indent=2, ensure_ascii=False)
        f.write("\n")
    text = make_lines(rng, user_ids + null_ids + empty_ids, missing_ids)
    with open(os.path.join(HERE, "alert-ids.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(text)


if __name__ == "__main__":
    main()
