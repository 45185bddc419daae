# Mirrors the Makefile: install the package with the postgres extra, `yitong db upgrade`, `yitong serve`.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY yitong ./yitong
COPY idp ./idp
COPY seal ./seal
COPY verify ./verify
COPY keys ./keys
COPY baselib ./baselib
COPY migrations ./migrations
RUN python -m venv /opt/yitong && /opt/yitong/bin/pip install --no-cache-dir '.[postgres]'

FROM python:3.11-slim-bookworm
# libssl3: the OpenSSL 3 libcrypto that the native SM2 backend loads; fonts-noto-cjk: the CJK font
# seal images are drawn with (YITONG_SEAL_FONT); poppler-utils: page thumbnails in verification reports.
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 fonts-noto-cjk poppler-utils \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/yitong --create-home yitong
COPY --from=build /opt/yitong /opt/yitong
ENV PATH=/opt/yitong/bin:$PATH YITONG_HOME=/var/lib/yitong
USER yitong
WORKDIR /var/lib/yitong
EXPOSE 8000
CMD ["sh", "-c", "yitong db upgrade && exec yitong serve --host 0.0.0.0 --port 8000"]
