"""yitong/: the composition root — settings, create_app(), the CLI, the WSGI entry point.

The only room that may import every other (idp, seal, verify, baselib, keys, migrations);
nothing imports it.
"""
