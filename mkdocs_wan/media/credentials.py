"""Content Credentials (C2PA): every clip the plugin makes says, in a signed manifest, that it is
AI-generated — machine-readable and tamper-evident, unlike the visible label and the MP4 tags.

The manifest holds a `c2pa.actions.v2` assertion (`c2pa.created`, IPTC source type
`trainedAlgorithmicMedia`, mkdocs-wan as software agent) and an `org.mkdocs-wan.clip` assertion
(prompt, seed, model and its fingerprint, cache key; for a stitched clip, the segments it was
composed from); an image-to-video clip lists its start picture as an ingredient. Signing is the
last step before a clip enters the cache (a later remux would drop the manifest).

The signing identity is a team's certificate chain and key (options `signing_cert` and
`signing_key`, or the environment variables `MKDOCS_WAN_SIGNING_CERT` / `MKDOCS_WAN_SIGNING_KEY`
holding a path or the PEM itself, e.g. from a CI secret); without one, a local identity is made
once under `<cache_dir>/credentials/` (never published): its clips validate as "Valid" (untrusted
signer) anywhere else. c2pa and cryptography are imported only when a clip is signed or checked.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import filelock

from mkdocs_wan import __version__
from mkdocs_wan.errors import ModelLoadError
from mkdocs_wan.logs import quoted

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CLIP_ASSERTION = "org.mkdocs-wan.clip"
CERT_ENV, KEY_ENV = "MKDOCS_WAN_SIGNING_CERT", "MKDOCS_WAN_SIGNING_KEY"
STATES = ("Trusted", "Valid", "Invalid", "missing")


class CredentialsError(ModelLoadError):
    """The signing identity cannot be loaded or made; like a model that cannot load, it stops the
    build with one line (no clip could be signed), saying which file and why."""


@dataclass(frozen=True)
class Identity:
    """A certificate chain (leaf first, PEM), its private key (PKCS#8 PEM), and the root to trust."""

    chain: bytes
    key: bytes
    anchor: bytes | None  # the local identity's root: `verify` reports its clips as Trusted
    local: bool


class Signer:
    """Signs clip bytes with one identity, loaded (or made) when the first clip is signed, so a
    fully cached build reads no key and imports no cryptography."""

    def __init__(self, load: Callable[[], Identity]) -> None:
        self._load = load
        self._identity: Identity | None = None
        self._lock = threading.Lock()

    @property
    def identity(self) -> Identity:
        with self._lock:
            if self._identity is None:
                self._identity = self._load()
            return self._identity

    def __call__(self, mp4: bytes, facts: Mapping[str, Any], image: Path | None = None) -> bytes:
        """The clip `mp4` with a signed manifest of `facts` (and `image` as its ingredient)."""
        out = io.BytesIO()
        self._sign(io.BytesIO(mp4), out, facts, image)
        return out.getvalue()

    def sign_file(self, source: Path, target: Path, facts: Mapping[str, Any]) -> None:
        """Sign the clip in `source` into `target`, streaming (a stitched clip can be large)."""
        with source.open("rb") as src, target.open("wb") as dst:
            self._sign(src, dst, facts, None)

    def _sign(self, src: BinaryIO, dst: BinaryIO, facts: Mapping[str, Any], image: Path | None) -> None:
        import c2pa

        manifest = {
            "claim_generator_info": [{"name": "mkdocs-wan", "version": __version__}],
            "title": str(facts.get("title", "")),
            "format": "video/mp4",
            "assertions": [
                {
                    "label": "c2pa.actions.v2",
                    "data": {
                        "actions": [
                            {
                                "action": "c2pa.created",
                                "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                                "softwareAgent": {"name": "mkdocs-wan", "version": __version__},
                            }
                        ]
                    },
                },
                {"label": CLIP_ASSERTION, "data": dict(facts)},
            ],
        }
        info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, self.identity.chain, self.identity.key, None)
        signer = c2pa.Signer.from_info(info)  # a Builder and a Signer sign once: new ones per clip
        with c2pa.Builder(manifest) as builder:
            if image is not None:
                from mkdocs_wan.media.pictures import picture_type

                kind = picture_type(image)  # from the bytes: a PNG named .jpg is declared a PNG
                with image.open("rb") as picture:
                    builder.add_ingredient({"title": image.name, "relationship": "inputTo"}, kind, picture)
            builder.sign(signer, "video/mp4", src, dst)


def signer_for(enabled: bool, cert: str | None, key: str | None, base_dir: Path, folder: Path) -> Signer | None:
    """The build's signer, or None with `credentials: false`."""
    return Signer(lambda: load_identity(cert, key, base_dir, folder)) if enabled else None


def load_identity(cert: str | None, key: str | None, base_dir: Path, folder: Path) -> Identity:
    """A team's identity (options, else environment), else the local one (made once)."""
    cert = cert or os.environ.get(CERT_ENV) or None
    key = key or os.environ.get(KEY_ENV) or None
    if cert or key:
        if not (cert and key):
            raise CredentialsError(
                "a signing certificate needs its key and the other way round: set both `signing_cert` and "
                f"`signing_key` (or {CERT_ENV} and {KEY_ENV})"
            )
        chain, private = _checked(_pem(cert, base_dir, "signing_cert"), _pem(key, base_dir, "signing_key"))
        return Identity(chain, private, None, local=False)
    return local_identity(folder)


def _checked(chain: bytes, key: bytes) -> tuple[bytes, bytes]:
    """The chain and the key as c2pa wants them (PKCS#8), or one line saying what is wrong —
    checked before any model work, so a bad identity never costs a generated clip."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError as err:
        raise CredentialsError(f"signing_cert holds no readable PEM certificate: {err}") from None
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as err:
        raise CredentialsError(f"signing_key is not a readable, unencrypted PEM private key: {err}") from None
    leaf = certs[0]
    es256 = "Content Credentials are signed with ES256: use an EC P-256 key and a certificate for it"
    if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(private.curve, ec.SECP256R1):
        raise CredentialsError(f"signing_key is not an EC P-256 key; {es256}")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(serialization.Encoding.DER, public) != leaf.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise CredentialsError("signing_key does not belong to the first certificate in signing_cert (the leaf)")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        raise CredentialsError(
            f"the signing certificate is valid from {leaf.not_valid_before_utc:%Y-%m-%d} to "
            f"{leaf.not_valid_after_utc:%Y-%m-%d}, not today; renew it"
        )
    if leaf.issuer == leaf.subject:
        raise CredentialsError(
            "the signing certificate is self-signed; C2PA needs a leaf certificate issued by a CA: put the "
            "chain in signing_cert, leaf first"
        )
    pkcs8 = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return chain, pkcs8


MAX_PEM_BYTES = 1 << 20  # a certificate chain is a few KB


def _pem(value: str, base_dir: Path, name: str) -> bytes:
    """The PEM text itself, or a file of it. A value that is not a plausible path is never echoed:
    a key pasted with a BOM, a stray quote or base64-wrapped would otherwise print into the log."""
    text = value.strip().lstrip("\ufeff").strip("'\"")
    if text.startswith("-----BEGIN"):
        return text.encode()
    if "\n" in value or "-----" in value or len(value) > 1_024:
        raise CredentialsError(
            f"{name} is neither PEM text (starting with -----BEGIN) nor a file path; its value is not shown. Put "
            f"the PEM text itself (without quotes or a BOM) or the path of a .pem file in {name}"
        )
    path = base_dir / value
    try:
        info = path.stat()  # follows links: the file itself must be regular
        if not stat.S_ISREG(info.st_mode):
            raise CredentialsError(f"{name} {path} is not a regular file (a pipe or device would hang or never end)")
        if info.st_size > MAX_PEM_BYTES:
            raise CredentialsError(f"{name} {path} is {info.st_size:,} bytes, too large for a PEM file")
        with path.open("rb") as handle:
            data = handle.read(MAX_PEM_BYTES + 1)
    except OSError as err:
        raise CredentialsError(f"cannot read {name} {path}: {err.strerror or err}") from None
    if b"-----BEGIN" not in data:
        raise CredentialsError(f"{name} {path} is not a PEM file")
    return data


def local_identity(folder: Path) -> Identity:
    """This cache's own signing identity: a P-256 root and a leaf it signs, made once, kept in
    `folder` (inside the cache, never published). Its clips validate as Valid, untrusted signer."""
    chain_file, key_file, root_file = folder / "chain.pem", folder / "key.pem", folder / "root.pem"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with filelock.FileLock(folder / ".lock"):
            if not (chain_file.is_file() and key_file.is_file() and root_file.is_file()):
                chain, key, root = _make_identity()
                for path, data in ((root_file, root), (chain_file, chain), (key_file, key)):
                    _write_private(path, data)
            return Identity(chain_file.read_bytes(), key_file.read_bytes(), root_file.read_bytes(), local=True)
    except OSError as err:
        fix = "move that file away" if folder.exists() and not folder.is_dir() else "make the cache folder writable"
        raise CredentialsError(
            f"cannot make the local signing identity in {folder}: {err.strerror or err}; {fix}, set "
            "`signing_cert` and `signing_key`, or `credentials: false`"
        ) from None


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only from the first byte (a shared runner never sees a
    key in a world-readable window), then put it in place by rename."""
    scratch = path.with_suffix(".tmp")
    scratch.unlink(missing_ok=True)
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    scratch.replace(path)


def _names(common: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mkdocs-wan")]
    )


def _usage(signing: bool) -> Any:
    from cryptography import x509

    off = {"content_commitment": False, "data_encipherment": False, "key_agreement": False}
    off.update(encipher_only=False, decipher_only=False, key_encipherment=False)
    return x509.KeyUsage(digital_signature=signing, key_cert_sign=not signing, crl_sign=not signing, **off)


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)


def _make_root(common: str = "mkdocs-wan local root") -> tuple[Any, Any]:
    """A P-256 root CA certificate and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity()
    root = (
        x509.CertificateBuilder()
        .subject_name(_names(common))
        .issuer_name(_names(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return root, key


def _make_identity(
    issuer: tuple[Any, Any] | None = None, common: str = "mkdocs-wan local signer"
) -> tuple[bytes, bytes, bytes]:
    """(chain PEM: leaf then root, the leaf's PKCS#8 key, the root PEM): a leaf signed by
    `issuer` (a root and its key), or by a new root whose key is thrown away — so the local root
    vouches for this one leaf only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    root, root_key = issuer or _make_root()
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity()
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_names(common))
        .issuer_name(root.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key = leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return leaf.public_bytes(pem) + root.public_bytes(pem), key, root.public_bytes(pem)


def manifest_state(path: Path, anchor: bytes | None = None) -> tuple[str, dict[str, Any]]:
    """(Trusted | Valid | Invalid | missing, the active manifest) of a clip; `anchor` is a root to trust."""
    import c2pa

    try:
        with path.open("rb") as stream:
            context = c2pa.Context.from_dict({"trust": {"user_anchors": anchor.decode()}}) if anchor else None
            reader = c2pa.Reader("video/mp4", stream, context=context) if context else c2pa.Reader("video/mp4", stream)
            state = reader.get_validation_state() or "Invalid"
            store = json.loads(reader.json())
    except c2pa.C2paError as err:
        return ("missing", {}) if "ManifestNotFound" in type(err).__name__ + str(err) else ("Invalid", {})
    manifest = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    return (state if state in STATES else "Invalid"), manifest


def named_key(path: Path, key: str, anchor: bytes | None = None) -> str | None:
    """Why a clip's manifest contradicts it being clip `key` (Invalid, or it names another key), or
    None (it agrees, or there is no manifest to ask: clips made with `credentials: false`)."""
    return _contradiction(*manifest_state(path, anchor), key)


def _contradiction(state: str, manifest: Mapping[str, Any], key: str) -> str | None:
    if state == "Invalid":
        return "its Content Credentials are Invalid: the clip was altered after it was signed"
    named = (_assertion(manifest) or {}).get("key")
    if named not in (None, key):
        return f"its Content Credentials say it is another clip ({quoted(str(named), 13)})"
    return None


@dataclass(frozen=True)
class Trust:
    """Whose clips a site takes from elsewhere. `anchors`: roots every signer under which is
    trusted — the local identity's root (which only ever signed this cache's own leaf) and
    `trust_anchors`. `team_anchors` and `team_leaf`: the CA certificates of the site's own
    `signing_cert` chain, which vouch for the team's own leaf (issuer and serial) only — a CA,
    commercial or not, issues certificates to others too."""

    anchors: bytes
    team_anchors: bytes = b""
    team_leaf: tuple[str, str] | None = None  # (issuer organisation or common name, decimal serial)

    @property
    def every_root(self) -> bytes:
        return self.anchors + self.team_anchors


def untrusted(path: Path, key: str, trust: Trust) -> str | None:
    """Why a clip from elsewhere (a `fetch_from` site) is not one this site may publish, or None.

    Whoever controls a server can replace a clip and its record together, and strip or re-sign
    the credentials; only a valid manifest naming this very key, signed by a certificate the
    site trusts (see `Trust`), proves it came from a build this site trusts."""
    state, manifest = manifest_state(path, trust.anchors or None)
    if state == "missing":
        return "it carries no Content Credentials; this site signs its clips, so an unsigned one could be anyone's"
    problem = _contradiction(state, manifest, key)
    if problem is not None:
        return problem
    signature = manifest.get("signature_info") or {}
    if state != "Trusted" and trust.team_anchors and trust.team_leaf is not None:
        team_state, team_manifest = manifest_state(path, trust.team_anchors)
        signed_by = team_manifest.get("signature_info") or {}
        serial = (str(signed_by.get("issuer")), str(signed_by.get("cert_serial_number")))
        if team_state == "Trusted" and serial == trust.team_leaf:
            state = "Trusted"
    if state != "Trusted":
        who = str(signature.get("common_name") or signature.get("issuer") or "an unknown signer")
        serial = str(signature.get("cert_serial_number") or "?")[:24]
        return (
            f"its Content Credentials are signed by '{quoted(who)}' (certificate {quoted(serial)}), whom this site "
            "does not trust: add that signer's root certificate to `trust_anchors`"
        )
    if (_assertion(manifest) or {}).get("key") != key:
        return "its Content Credentials do not name this clip"
    return None


def _assertion(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    for assertion in manifest.get("assertions", []):
        if isinstance(assertion, dict) and assertion.get("label") == CLIP_ASSERTION:
            data = assertion.get("data")
            return data if isinstance(data, dict) else None
    return None


def site_trust(identity: Identity, extra: Sequence[str] | None, base_dir: Path) -> Trust:
    """Whose clips this site takes from elsewhere: its own identity's (see `Trust`) and the roots
    listed in `trust_anchors` (certificates only: a file holding a private key is refused)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    pem = serialization.Encoding.PEM
    anchors = [identity.anchor] if identity.anchor is not None else []
    for value in extra or ():
        data = _pem(value, base_dir, "trust_anchors")
        if b"PRIVATE KEY" in data:
            raise CredentialsError(
                "trust_anchors holds a private key; list root certificates only (and keep the key out of the "
                "repository)"
            )
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise CredentialsError(
                "trust_anchors holds no readable PEM certificate (give root certificates, never a key)"
            ) from None
        anchors += [cert.public_bytes(pem) for cert in certs]
    if identity.anchor is not None:
        return Trust(b"".join(anchors))
    leaf, *cas = x509.load_pem_x509_certificates(identity.chain)

    def name(attribute: x509.ObjectIdentifier) -> str | None:
        found = leaf.issuer.get_attributes_for_oid(attribute)
        return str(found[0].value) if found else None

    issuer = name(NameOID.ORGANIZATION_NAME) or name(NameOID.COMMON_NAME) or ""
    team = b"".join(cert.public_bytes(pem) for cert in cas)
    return Trust(b"".join(anchors), team, (issuer, str(leaf.serial_number)))
