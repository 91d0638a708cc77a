# Asterisk 22 from Debian sid, as in the sandbox. Render asterisk-conf/ into /etc/asterisk first
# (e.g. `holdfast dev-run` shows the variables; docs/settings.md lists them).
FROM debian:sid-slim
RUN apt-get update && apt-get install -y --no-install-recommends asterisk asterisk-core-sounds-en \
      asterisk-moh-opsound-wav && rm -rf /var/lib/apt/lists/*
CMD ["asterisk", "-f", "-C", "/etc/asterisk/asterisk.conf"]
