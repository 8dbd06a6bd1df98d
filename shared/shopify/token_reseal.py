"""Re-seal every shop's stored tokens with the current token encryption key.

Rotating `TOKEN_ENCRYPTION_KEY` without downtime: put the new key first (`new:base64,old:base64`),
which seals from then on while the old one still opens; run this (or wait for each token's
next refresh, which re-seals it too); once no row names the old key id, drop the old key.
Each shop is done in its own short transaction under its row lock, so it can run beside the
app, and a second run finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.db.pool import transaction
from shared.shopify.tokens import TokenCipher, TokenDecryptError


@dataclass
class ResealSummary:
    resealed: int = 0
    already_current: int = 0
    unreadable: list[str] = field(default_factory=list)  # shops whose tokens no configured key opens
    key_ids_left: dict[str, int] = field(default_factory=dict)  # token_key_id -> shops, after the run


def reseal_all_tokens(cipher: TokenCipher) -> ResealSummary:
    summary = ResealSummary()
    with transaction() as conn:
        ids = [row["id"] for row in conn.execute(
            "SELECT id FROM shops WHERE access_token_ciphertext IS NOT NULL ORDER BY id").fetchall()]
    for shop_id in ids:
        with transaction() as conn:
            row = conn.execute(
                """SELECT domain, access_token_ciphertext, refresh_token_ciphertext, token_key_id
                   FROM shops WHERE id = %s FOR UPDATE""", (shop_id,)).fetchone()
            if row is None or row["access_token_ciphertext"] is None:
                continue
            sealed = [row["access_token_ciphertext"], row["refresh_token_ciphertext"]]
            if all(s is None or cipher.key_id_of(s) == cipher.current_key_id for s in sealed):
                summary.already_current += 1
                continue
            domain = row["domain"]
            try:
                access, refresh = (None if s is None else cipher.seal(cipher.open(s, domain), domain) for s in sealed)
            except TokenDecryptError:
                summary.unreadable.append(domain)  # left as it is: its key was dropped too early
                continue
            conn.execute(
                """UPDATE shops SET access_token_ciphertext = %s, refresh_token_ciphertext = %s,
                          token_key_id = %s, updated_at = now() WHERE id = %s""",
                (access, refresh, cipher.current_key_id, shop_id))
            summary.resealed += 1
    with transaction() as conn:
        summary.key_ids_left = {row["token_key_id"]: row["n"] for row in conn.execute(
            """SELECT token_key_id, count(*) AS n FROM shops WHERE access_token_ciphertext IS NOT NULL
               GROUP BY token_key_id ORDER BY token_key_id""").fetchall()}
    return summary
