"""The password policy, shared by the CLI and the operators form."""

from __future__ import annotations

MIN_LENGTH = 10
# A short list of the passwords every credential-stuffing list starts with.
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "password123",
        "passw0rd",
        "123456789",
        "1234567890",
        "qwertyuiop",
        "qwerty123",
        "iloveyou",
        "admin12345",
        "administrator",
        "letmein123",
        "welcome123",
        "changeme",
        "changeme123",
        "abcdefghij",
        "0123456789",
    }
)


def password_problem(password: str, email: str = "") -> str | None:
    """Say what is wrong with a candidate password, or None if it is acceptable."""
    if not password or not password.strip():
        return "The password is empty."
    if len(password) < MIN_LENGTH:
        return f"The password must be at least {MIN_LENGTH} characters long."
    if password.lower() in COMMON_PASSWORDS:
        return "This password is too common; choose another."
    if len(set(password)) < 4:
        return "The password repeats too few different characters."
    local_part = email.split("@", 1)[0].lower()
    if local_part and len(local_part) >= 4 and local_part in password.lower():
        return "The password must not contain the email address."
    return None
