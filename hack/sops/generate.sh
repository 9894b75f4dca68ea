#!/usr/bin/env bash
# Regenerates crates/sops/tests/data: test-only keys (age and PGP), plaintext
# inputs, the same files encrypted by the real sops (built from this module),
# and what `sops -d` makes of them. Run from anywhere; needs Go, the Go module
# proxy and gpg. Every run makes new keys and ciphertexts: commit them together.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="$here/../../crates/sops/tests/data"
work="$(mktemp -d)"
trap 'gpgconf --homedir "$work/gnupg" --kill all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
(cd "$here" && go build -trimpath -o "$work/bin/" github.com/getsops/sops/v3/cmd/sops filippo.io/age/cmd/age-keygen)
sops="$work/bin/sops"
export SOPS_DISABLE_VERSION_CHECK=1

rm -rf "$data/keys" "$data/enc" "$data/dec"
mkdir -p "$data/keys" "$data/enc" "$data/dec" "$data/plain"

# Keys: the age identity the tests hold, another one they do not, and two PGP
# keys (RSA as in Flux's guide, and gpg's default ed25519/cv25519).
"$work/bin/age-keygen" -o "$data/keys/age.agekey" 2>/dev/null
"$work/bin/age-keygen" -o "$data/keys/other.agekey" 2>/dev/null
age_recipient="$(grep -o 'age1[0-9a-z]*' "$data/keys/age.agekey")"
other_recipient="$(grep -o 'age1[0-9a-z]*' "$data/keys/other.agekey")"
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "ferry-test-rsa <rsa@ferry.test>" rsa3072 encrypt never
gpg --batch --quiet --passphrase '' --quick-gen-key "ferry-test-ecc <ecc@ferry.test>" future-default default never
fpr() { gpg --batch --with-colons --list-keys "$1" | awk -F: '/^fpr/ { print $10; exit }'; }
rsa_fp="$(fpr rsa@ferry.test)"
ecc_fp="$(fpr ecc@ferry.test)"
gpg --batch --armor --export-secret-keys "$rsa_fp" > "$data/keys/rsa.asc"
gpg --batch --armor --export-secret-keys "$ecc_fp" > "$data/keys/ecc.asc"
printf '%s\n' "$age_recipient" > "$data/keys/age.recipient"
printf '%s\n%s\n' "$rsa_fp" "$ecc_fp" > "$data/keys/pgp.fingerprints"

# enc NAME [sops flags...]: encrypts plain/NAME for the age identity and both
# PGP keys, then decrypts it with sops into dec/NAME.
enc() {
  local name="$1"; shift
  "$sops" --encrypt --age "$age_recipient" --pgp "$rsa_fp,$ecc_fp" "$@" "$data/plain/$name" > "$data/enc/$name"
  SOPS_AGE_KEY_FILE="$data/keys/age.agekey" "$sops" --decrypt "$data/enc/$name" > "$data/dec/$name"
}
# encas NAME SOURCE [flags...]: like enc, but stores plain/SOURCE as enc/NAME.
encas() {
  local name="$1" source="$2"; shift 2
  cp "$data/plain/$source" "$work/$name"
  "$sops" --encrypt --age "$age_recipient" --pgp "$rsa_fp,$ecc_fp" "$@" "$work/$name" > "$data/enc/$name"
  SOPS_AGE_KEY_FILE="$data/keys/age.agekey" "$sops" --decrypt "$data/enc/$name" > "$data/dec/$name"
}

enc secret.yaml
enc values.yaml
enc multi.yaml
enc config.json
enc app.env
enc app.ini
enc blob.txt
enc empty.yaml
encas unencrypted-suffix.yaml values.yaml --unencrypted-suffix _unencrypted
encas encrypted-suffix.yaml values.yaml --encrypted-suffix _secret
encas unencrypted-regex.yaml values.yaml --unencrypted-regex '^(name|count|enabled)$'
encas encrypted-regex.yaml secret.yaml --encrypted-regex '^(data|stringData)$'
encas mac-only-encrypted.yaml secret.yaml --encrypted-regex '^(data|stringData)$' --mac-only-encrypted
encas encrypted-comment-regex.yaml values.yaml --encrypted-comment-regex 'sops:enc'
encas unencrypted-regex.json config.json --unencrypted-regex '^port$'

# Shamir: two key groups (age, PGP), both needed.
cat > "$work/.sops.yaml" <<YAML
creation_rules:
  - shamir_threshold: 2
    key_groups:
      - age: ["$age_recipient"]
      - pgp: ["$rsa_fp"]
YAML
cp "$data/plain/secret.yaml" "$work/shamir.yaml"
(cd "$work" && "$sops" --encrypt shamir.yaml > "$data/enc/shamir.yaml")
SOPS_AGE_KEY_FILE="$data/keys/age.agekey" "$sops" --decrypt "$data/enc/shamir.yaml" > "$data/dec/shamir.yaml"

# For another key only: the tests' keys must not open it.
"$sops" --encrypt --age "$other_recipient" "$data/plain/secret.yaml" > "$data/enc/other-key.yaml"

# Tampered: an unencrypted value changed after encryption (the MAC no longer
# matches), and one ciphertext byte changed (AES-GCM refuses it).
sed 's/^\(\s*name_unencrypted:\).*/\1 tampered/' "$data/enc/unencrypted-suffix.yaml" > "$data/enc/tampered-mac.yaml"
if cmp -s "$data/enc/unencrypted-suffix.yaml" "$data/enc/tampered-mac.yaml"; then
  echo "tampering the MAC vector changed nothing" >&2; exit 1
fi
perl -pe 'if (!$done && s/(password: ENC\[AES256_GCM,data:)(.)/$1 . ($2 eq "A" ? "B" : "A")/e) { $done = 1 }' \
  "$data/enc/secret.yaml" > "$data/enc/tampered-value.yaml"
if cmp -s "$data/enc/secret.yaml" "$data/enc/tampered-value.yaml"; then
  echo "tampering the value vector changed nothing" >&2; exit 1
fi

"$sops" --version 2>/dev/null | head -1 > "$data/sops-version"
echo "wrote $(ls "$data/enc" | wc -l) encrypted vectors to $data"
