# The production image: `yitong serve` (default), `migrate` or `worker` (deploy/entrypoint.sh).
#   docker build -t yitong .
#   docker run -e YITONG_ISSUER=https://id.example.gov.cn -e YITONG_DATABASE_URL=... -e YITONG_REDIS_URL=... \
#     -v /etc/yitong/master.key:/run/secrets/yitong_master_key:ro -v yitong-home:/var/lib/yitong yitong
# deploy/compose.yaml runs the whole topology (README "Topology").
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# Dependencies from the lock file first (a layer that changes only with requirements.lock).
COPY requirements.lock ./
RUN python -m venv /opt/yitong && /opt/yitong/bin/pip install --no-cache-dir --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY yitong ./yitong
COPY idp ./idp
COPY seal ./seal
COPY verify ./verify
COPY keys ./keys
COPY ofd ./ofd
COPY baselib ./baselib
COPY licence ./licence
COPY migrations ./migrations
RUN /opt/yitong/bin/pip install --no-cache-dir --no-deps . && /opt/yitong/bin/pip check

FROM python:3.11-slim-bookworm
# libssl3: the OpenSSL 3 libcrypto that the native SM2 backend loads; fonts-noto-cjk: the CJK font
# seal images are drawn with (YITONG_SEAL_FONT); poppler-utils: page thumbnails in verification
# reports; postgresql-client: pg_dump / pg_restore for `yitong backup` and `restore`.
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 fonts-noto-cjk poppler-utils \
      postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/yitong --create-home yitong
COPY --from=build /opt/yitong /opt/yitong
COPY deploy/entrypoint.sh /usr/local/bin/yitong-entrypoint
ENV PATH=/opt/yitong/bin:$PATH YITONG_HOME=/var/lib/yitong PYTHONUNBUFFERED=1
# The home (PKI files, trust bundle; the SQLite database only in a trial) outlives the container.
VOLUME ["/var/lib/yitong"]
USER 10001:10001
WORKDIR /var/lib/yitong
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["/usr/local/bin/yitong-entrypoint"]
CMD ["serve"]
