"""The parts of joserfc keys.jose relies on beyond its documented API are still there.

keys.jose subclasses joserfc's key binding base class (it has no public name) and registers SM2 in
joserfc's registries; a joserfc upgrade that moves either breaks SM2 JOSE, so this fails first.
"""

from joserfc._rfc7517.models import NativeKeyBinding
from joserfc.jwk import ECKey, JWKRegistry, KeySet
from joserfc.jws import JWSRegistry

from keys import jose


def test_the_binding_base_class_still_has_the_hooks_we_override():
    for name in ("convert_raw_key_to_dict", "import_from_dict", "import_from_bytes", "as_bytes"):
        assert callable(getattr(NativeKeyBinding, name)), name
    assert issubclass(ECKey.binding, NativeKeyBinding)
    assert issubclass(jose.SM2JWK.binding, NativeKeyBinding)


def test_sm2_is_registered_in_joserfcs_registries():
    assert JWSRegistry.algorithms[jose.SM2_ALG].name == jose.SM2_ALG
    assert KeySet.algorithm_keys[jose.SM2_ALG] == ["EC"]
    assert JWKRegistry.key_types["EC"] is not ECKey  # our EC-or-SM2 stand-in
    assert hasattr(JWSRegistry, "max_header_length")
