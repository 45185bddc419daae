"""GB/T 38540 seals and seal signatures (moved to keys/ses/parse.py; split by job next)."""

from keys.ses import parse as _parse

globals().update({name: value for name, value in vars(_parse).items() if not name.startswith("__")})
