#!/bin/sh
# Install a provisioned Otklik kiosk on a Raspberry Pi (Raspberry Pi OS / Debian 12).
#
#   printf '%s\n' 'otk1:...' | sudo sh setup-kiosk.sh --bootstrap -   # the line in bootstrap.txt
#   sudo sh setup-kiosk.sh --bootstrap-file ./k1/bootstrap.txt       # the same, from the file
#   sudo sh setup-kiosk.sh --config ./k1            # the bundle folder: kiosk.toml, mqtt-password, ca.crt
#
# Options: --source PATH  the otklik source tree or wheel to install (default: the tree holding this script)
# The token holds the kiosk's password: it is read from stdin or a file, never taken as an argument (ps shows those).
# Installs /opt/otklik/venv, /etc/otklik (config, password, CA), /var/lib/otklik (outbox) and the
# otklik-kiosk systemd unit, running as the unprivileged user `otklik`. Safe to run again.
# A config with a [screen] section (a touchscreen) also gets Chromium in kiosk mode on the touch
# page at boot (otklik-screen.service, as the user `otklik-screen`) and the kiosk run with --screen.
set -eu

PREFIX=${OTKLIK_PREFIX:-/opt/otklik}
ETC=${OTKLIK_ETC:-/etc/otklik}
DATA=/var/lib/otklik
SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
SOURCE=$(CDPATH='' cd -- "$SCRIPT_DIR/../.." && pwd)
BOOTSTRAP_FILE=""
CONFIG_DIR=""

die() {
    echo "setup-kiosk: $*" >&2
    exit 1
}

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --bootstrap)
            [ $# -ge 2 ] || die "--bootstrap needs - (the token on stdin)"
            [ "$2" = "-" ] || die "--bootstrap takes - and the token on stdin, never the token itself: ps shows every argument to everyone (see --help)"
            BOOTSTRAP_FILE=-
            shift 2
            ;;
        --bootstrap-file)
            [ $# -ge 2 ] || die "--bootstrap-file needs the file holding the token"
            BOOTSTRAP_FILE=$2
            shift 2
            ;;
        --config)
            [ $# -ge 2 ] || die "--config needs the bundle folder"
            CONFIG_DIR=$2
            shift 2
            ;;
        --source)
            [ $# -ge 2 ] || die "--source needs a path"
            SOURCE=$2
            shift 2
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            die "unknown option '$1' (see --help)"
            ;;
    esac
done

if [ -z "$BOOTSTRAP_FILE" ] && [ -z "$CONFIG_DIR" ]; then
    die "give --bootstrap - (token on stdin), --bootstrap-file FILE or --config DIR (see --help)"
fi
if [ -n "$CONFIG_DIR" ] && [ ! -f "$CONFIG_DIR/kiosk.toml" ]; then
    die "$CONFIG_DIR/kiosk.toml not found: point --config at the folder from 'otklik provision kiosk'"
fi
if [ -n "$BOOTSTRAP_FILE" ] && [ "$BOOTSTRAP_FILE" != "-" ] && [ ! -r "$BOOTSTRAP_FILE" ]; then
    die "cannot read $BOOTSTRAP_FILE"
fi
BOOTSTRAP=""
if [ "$BOOTSTRAP_FILE" = "-" ]; then
    # Read now, before apt-get and friends could eat stdin. Kept in this shell's
    # memory only: printf below is a builtin, so no process's argv ever holds it.
    IFS= read -r BOOTSTRAP || [ -n "$BOOTSTRAP" ] || die "no token on stdin"
fi
[ "$(id -u)" -eq 0 ] || die "run as root: sudo sh $0 ..."

echo "setup-kiosk: installing packages"
apt-get update -q
# lgpio: gpiozero's pin library on Raspberry Pi OS bookworm; from Debian so the venv sees it.
apt-get install -y -q --no-install-recommends python3-venv python3-pip python3-lgpio

if ! id otklik >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$DATA" --shell /usr/sbin/nologin otklik
fi
for group in gpio video; do
    if getent group "$group" >/dev/null; then
        usermod -a -G "$group" otklik
    fi
done

echo "setup-kiosk: installing otklik from $SOURCE"
python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade "$SOURCE"

install -d -m 0750 -o root -g otklik "$ETC"
install -d -m 0750 -o otklik -g otklik "$DATA"
if [ -n "$BOOTSTRAP" ]; then
    printf '%s\n' "$BOOTSTRAP" | "$PREFIX/venv/bin/otklik" provision unpack --etc "$ETC"
elif [ -n "$BOOTSTRAP_FILE" ]; then
    "$PREFIX/venv/bin/otklik" provision unpack --etc "$ETC" --token-file "$BOOTSTRAP_FILE"
else
    install -m 0640 "$CONFIG_DIR/kiosk.toml" "$ETC/kiosk.toml"
    install -m 0640 "$CONFIG_DIR/mqtt-password" "$ETC/mqtt-password"
    if [ -f "$CONFIG_DIR/ca.crt" ]; then
        install -m 0644 "$CONFIG_DIR/ca.crt" "$ETC/ca.crt"
    fi
fi
# The kiosk runs as otklik: it may read its password, nobody else may.
chown root:otklik "$ETC/kiosk.toml" "$ETC/mqtt-password"
chmod 0640 "$ETC/kiosk.toml" "$ETC/mqtt-password"

# Refuse to install a service that would only crash-loop on a bad config.
runuser -u otklik -- "$PREFIX/venv/bin/python" -c \
    'import sys; from kiosk.config import load_config; c = load_config(sys.argv[1]); print("setup-kiosk: config ok for", c.kiosk.branch + "/" + c.kiosk.id)' \
    "$ETC/kiosk.toml"

# The touch page's address, as the kiosk will serve it ('' without a [screen] section).
SCREEN_URL=$(runuser -u otklik -- "$PREFIX/venv/bin/python" -c \
    'import sys; from kiosk.config import load_config; s = load_config(sys.argv[1]).screen; print(s.url if s else "")' \
    "$ETC/kiosk.toml")

install -m 0644 "$SOURCE/deploy/systemd/otklik-kiosk.service" /etc/systemd/system/otklik-kiosk.service
DROPIN=/etc/systemd/system/otklik-kiosk.service.d
if [ -n "$SCREEN_URL" ]; then
    echo "setup-kiosk: touchscreen: installing Chromium in kiosk mode on $SCREEN_URL"
    # cage: a Wayland compositor that shows one program full-screen, no desktop needed.
    # Raspberry Pi OS names the browser chromium (bookworm) or chromium-browser (older releases).
    apt-get install -y -q --no-install-recommends cage chromium \
        || apt-get install -y -q --no-install-recommends cage chromium-browser
    BROWSER=$(command -v chromium || command -v chromium-browser) || die "Chromium did not install"
    if ! id otklik-screen >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/otklik-screen --shell /usr/sbin/nologin otklik-screen
    fi
    for group in video render input; do
        if getent group "$group" >/dev/null; then
            usermod -a -G "$group" otklik-screen
        fi
    done
    # Read by systemd itself before it starts the unit: the browser's user needs nothing of /etc/otklik.
    printf 'OTKLIK_SCREEN_URL=%s\nOTKLIK_BROWSER=%s\n' "$SCREEN_URL" "$BROWSER" >"$ETC/screen.env"
    chmod 0644 "$ETC/screen.env"
    install -d -m 0755 "$DROPIN"
    install -m 0644 "$SOURCE/deploy/pi/otklik-kiosk-screen.conf" "$DROPIN/screen.conf"
    install -m 0644 "$SOURCE/deploy/pi/otklik-screen.service" /etc/systemd/system/otklik-screen.service
else
    # Re-run after the [screen] section was removed: back to buttons only.
    if [ -f /etc/systemd/system/otklik-screen.service ]; then
        systemctl disable --now otklik-screen.service || true
        rm -f /etc/systemd/system/otklik-screen.service
    fi
    rm -f "$DROPIN/screen.conf" "$ETC/screen.env"
fi
systemctl daemon-reload
systemctl enable otklik-kiosk.service
systemctl restart otklik-kiosk.service
if [ -n "$SCREEN_URL" ]; then
    systemctl enable otklik-screen.service
    systemctl restart otklik-screen.service
    echo "setup-kiosk: touch screen: journalctl -u otklik-screen -f"
fi
echo "setup-kiosk: done; follow it with: journalctl -u otklik-kiosk -f"
