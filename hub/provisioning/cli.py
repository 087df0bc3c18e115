"""``otklik provision ...`` (credentials, broker files, kiosk bundles) and ``otklik config ...`` (config push):
options and output over hub.provisioning.actions, store and config_push."""

from __future__ import annotations

import grp
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click

from hub.alert_text import LANGUAGES
from hub.provisioning import actions, broker_files, bundle, qr, registry, store
from hub.provisioning.actions import DEFAULT_PUBLIC_URL
from otklik import config
from otklik.command import Group, broker_from, broker_options, db_option, emit, group, output_option
from otklik.settings import SettingsError

CONFIG_PUSH_USER = registry.service_username(registry.ROLE_HUB, "push")


def broker_dir_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--broker-group",
        envvar=config.envvars("OTKLIK_BROKER_GROUP"),
        show_envvar=True,
        expose_value=False,
        callback=lambda ctx, _p, value: ctx.meta.__setitem__("broker_group", value),
        help="The group Mosquitto runs as; passwd, acl and the TLS key are made readable by it "
        f"(default: {broker_files.DEFAULT_BROKER_GROUP}, if it exists).",
    )(fn)
    fn = click.option(
        "--reload",
        "reload_how",
        envvar=config.envvars("OTKLIK_BROKER_RELOAD"),
        show_envvar=True,
        default="systemctl",
        show_default=True,
        help="How to make Mosquitto reread its files: systemctl, pidfile:PATH, command:CMD or none.",
    )(fn)
    return click.option(
        "--broker-dir",
        envvar=config.envvars("OTKLIK_BROKER_DIR"),
        show_envvar=True,
        default=broker_files.DEFAULT_BROKER_DIR,
        show_default=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Where the broker's passwd, acl and certs/ live.",
    )(fn)


def public_url_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--broker-url",
        envvar=config.envvars("OTKLIK_PUBLIC_BROKER_URL"),
        show_envvar=True,
        default=DEFAULT_PUBLIC_URL,
        show_default=True,
        help=help_text,
    )


def _broker_gid() -> int | None:
    return broker_files.broker_gid(click.get_current_context().meta.get("broker_group"))


def _sync(db: Any, broker_dir: Path, reload_how: str) -> None:
    click.echo(actions.sync_broker(db, broker_dir, reload_how, _broker_gid()))


@group()
def provision() -> None:
    """Credentials for kiosks, pads and services; the broker's password and ACL files.

    Every MQTT user has a random password; the hub database keeps only its hash.
    The broker's passwd and acl files are rewritten from the database on every
    change and the broker is told to reload them: no kiosk restarts.

    \b
    Example:
        export OTKLIK_DB=/var/lib/otklik/hub.db
        otklik provision ca --host hub.local --host 192.168.1.10
        otklik provision service hub --out /etc/otklik
        otklik provision kiosk --branch b1 --kiosk k1 --out ./k1
        otklik provision store --branch b1 --central-url mqtts://hub.example.com:8883 \\
            --host store-b1.local --out ./store-b1
    """


@provision.command("kiosk")
@db_option
@broker_dir_options
@click.option("--branch", required=True, help="Branch id (lowercase letters, digits, '-', '_').")
@click.option("--kiosk", "kiosk_id", required=True, help="Kiosk id within the branch.")
@click.option("--label", "labels", multiple=True, help="Button label, once per button in score order 1..4.")
@click.option("--buttons", help="BCM pins of the buttons in score order, e.g. 5,6,13,19.")
@click.option("--employee", help="Bind the kiosk (a desk pad) to this employee id.")
@click.option("--cooldown", type=float, default=5.0, show_default=True, help="Seconds before a press counts again.")
@public_url_option("The URL the kiosk connects to.")
@click.option("--pad", is_flag=True, help="A firmware button pad: write config.json for firmware/ instead.")
@click.option("--wifi-ssid", help="With --pad: the store's Wi-Fi network.")
@click.option("--wifi-password-file", type=click.File(), help="With --pad: file holding the Wi-Fi password.")
@click.option("--qr/--no-qr", default=True, show_default=True, help="Print the bootstrap QR code in the terminal.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def provision_kiosk(
    db_path: Path,
    broker_dir: Path,
    reload_how: str,
    branch: str,
    kiosk_id: str,
    labels: tuple[str, ...],
    buttons: str | None,
    employee: str | None,
    cooldown: float,
    broker_url: str,
    pad: bool,
    wifi_ssid: str | None,
    wifi_password_file: Any,
    qr: bool,
    out: Path,
) -> None:
    """Register a kiosk and write its ready-to-copy config, password, CA and bootstrap line.

    The output folder holds the kiosk's password: hand it over, then delete it.

    \b
    Example:
        otklik provision kiosk --branch b1 --kiosk k1 --out ./k1 \\
            --label "Очень плохо" --label "Плохо" --label "Хорошо" --label "Отлично"
        otklik provision kiosk --branch b1 --kiosk desk-3 --employee e17 --pad \\
            --wifi-ssid Store --wifi-password-file wifi.txt --out ./desk-3
    """
    db = registry.open_hub_db(db_path)
    issued = actions.add_kiosk(
        db, branch=branch, kiosk=kiosk_id, out=out, broker_dir=broker_dir, broker_url=broker_url,
        labels=list(labels), pins=actions.parse_pins(buttons), employee=employee, cooldown_s=cooldown, pad=pad,
        wifi_ssid=wifi_ssid, wifi_password=wifi_password_file.read().strip() if wifi_password_file else None,
    )  # fmt: skip
    user, files = issued.credential.username, issued.files
    if pad:
        click.echo(f"pad {branch}/{kiosk_id}: user {user}; copy {files['config']} to the pad's filesystem")
    else:
        click.echo(f"kiosk {branch}/{kiosk_id}: user {user}; wrote {', '.join(p.name for p in files.values())}")
        click.echo(f"On the Pi, with deploy/pi/{bundle.SETUP_SCRIPT} copied over, run the line in {files['bootstrap']}")
        if qr:
            click.echo(bundle.qr_terminal(files["bootstrap"].read_text().strip()))
    _sync(db, broker_dir, reload_how)


@provision.command("service")
@db_option
@broker_dir_options
@click.argument("role", type=click.Choice(registry.SERVICE_ROLES))
@click.option("--name", help="Tell users of one role apart, e.g. an admin's own name.")
@click.option(
    "--count",
    type=click.IntRange(1),
    help="Several hubs: make sure N users of the role exist (otklik-hub, otklik-hub-2, ... otklik-hub-N).",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def provision_service(
    db_path: Path, broker_dir: Path, reload_how: str, role: str, name: str | None, count: int | None, out: Path
) -> None:
    """Credentials for the hub, the dashboard or an admin; writes OUT/<user>.password (0600).

    The hub reads every kiosk's topics and writes config pushes; the dashboard
    the same; an admin may read and write everything under otklik/.

    The broker makes each user's client id its username, so every process needs
    its own user: --name gives a role another one with the same access, e.g.
    otklik-hub-push for `otklik config push`; --count N makes the users of N hubs
    sharing the stream (`otklik hub --share-group`), keeping those that exist.

    \b
    Example:
        otklik provision service hub --out /etc/otklik
        otklik provision service hub --name push --out /etc/otklik
        otklik hub --broker mqtt://127.0.0.1:1883 --db /var/lib/otklik/hub.db \\
            --username otklik-hub --password-file /etc/otklik/otklik-hub.password
        otklik provision service hub --count 3 --out /etc/otklik
    """
    if name and count:
        raise click.UsageError("give --name or --count, not both")
    db = registry.open_hub_db(db_path)
    if count:
        made = actions.add_services(db, role, count=count, out=out)
        for issued in made:
            click.echo(f"{role}: user {issued.credential.username}; password in {issued.files['password']}")
        click.echo(f"{role}: {count} users, {len(made)} new")
    else:
        issued = actions.add_service(db, role, name=name, out=out)
        click.echo(f"{role}: user {issued.credential.username}; password in {issued.files['password']}")
    _sync(db, broker_dir, reload_how)


def _who(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--kiosk", "kiosk_id", help="Kiosk id (with --branch).")(fn)
    fn = click.option("--branch", help="Branch id (with --kiosk).")(fn)
    return click.option("--user", "username", help="MQTT user name, e.g. k-b1-k1 or otklik-hub.")(fn)


@provision.command("revoke")
@db_option
@broker_dir_options
@_who
def provision_revoke(
    db_path: Path, broker_dir: Path, reload_how: str, username: str | None, branch: str | None, kiosk_id: str | None
) -> None:
    """Take away an MQTT user's access: its password and ACL entries go, and the broker reloads.

    \b
    Example:
        otklik provision revoke --branch b1 --kiosk k1
        otklik provision revoke --user admin-olga
    """
    db = registry.open_hub_db(db_path)
    cred = actions.revoke(db, username=username, branch=branch, kiosk=kiosk_id)
    click.echo(f"revoked {cred.username}")
    _sync(db, broker_dir, reload_how)


@provision.command("rotate")
@db_option
@broker_dir_options
@_who
@public_url_option("For a kiosk: the URL in its new bundle.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def provision_rotate(
    db_path: Path,
    broker_dir: Path,
    reload_how: str,
    username: str | None,
    branch: str | None,
    kiosk_id: str | None,
    broker_url: str,
    out: Path,
) -> None:
    """Give an MQTT user a new password; the old one stops working at the broker's reload.

    For a kiosk this writes a new bundle (config, password, bootstrap line) to
    install on it; until then it cannot connect, and keeps its presses in its outbox.

    \b
    Example:
        otklik provision rotate --branch b1 --kiosk k1 --out ./k1-new
        otklik provision rotate --user otklik-hub --out /etc/otklik
    """
    db = registry.open_hub_db(db_path)
    issued = actions.rotate(db, username=username, branch=branch, kiosk=kiosk_id, out=out, broker_dir=broker_dir,
                            broker_url=broker_url)  # fmt: skip
    user, files = issued.credential.username, issued.files
    if "bootstrap" in files:
        click.echo(f"rotated {user}; new bundle in {out} (bootstrap line in {files['bootstrap']})")
    else:
        click.echo(f"rotated {user}; password in {files['password']}")
    _sync(db, broker_dir, reload_how)


@provision.command("list")
@db_option
@output_option
@click.option("--all", "show_all", is_flag=True, help="Include revoked users.")
def provision_list(db_path: Path, output: str, show_all: bool) -> None:
    """List MQTT users (never their passwords).

    \b
    Example:
        otklik provision list --all
        otklik provision list --json
    """
    db = registry.open_hub_db(db_path)
    rows = []
    for c in registry.all_credentials(db, active_only=not show_all):
        where = f"{c.branch}/{c.kiosk or '*'}" if c.branch else "-"
        state = f"revoked {c.revoked_at}" if c.revoked_at else f"since {c.rotated_at or c.created_at}"
        rows.append({"username": c.username, "role": c.role, "where": where, "state": state})
    emit(rows, output)


@provision.group("qr", cls=Group, invoke_without_command=True)
@db_option
@click.option("--branch", help="Branch id the code's ratings count for.")
@click.option(
    "--kiosk", "kiosk_id", help=f"Kiosk whose ratings they are (default: the branch's own, '{qr.BRANCH_KIOSK}')."
)
@click.option("--name", help="The branch's name as printed on the sheet, in its language (default: the branch id).")
@click.option(
    "--language", type=click.Choice(LANGUAGES), help="The sheet's language (default: the branch's alert_language)."
)
@click.option(
    "--url",
    "base_url",
    envvar=config.envvars("OTKLIK_PUBLIC_DASHBOARD_URL"),
    show_envvar=True,
    help="The dashboard's address as a shopper's phone reaches it, e.g. https://feedback.example.com.",
)
@click.option(
    "--font", type=click.Path(dir_okay=False, path_type=Path), help="A .ttf with Latin, Cyrillic and Persian letters."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="The sheet: FILE.png or FILE.pdf.")
@click.pass_context
def provision_qr(ctx: click.Context, db_path: Path, branch: str | None, kiosk_id: str | None, name: str | None,
                 language: str | None, base_url: str | None, font: Path | None, out: Path | None) -> None:  # fmt: skip
    """A printable QR code that opens the phone page for a branch or kiosk; revoke and list them.

    The code holds the dashboard's address and a signed token naming branch and kiosk (no
    other secret); the key that signs it is the private file OTKLIK_QR_KEY_FILE (default
    <hub db>.qr-key, 0600). The new code's id is printed: `otklik provision qr revoke ID`
    stops it at once.

    \b
    Example:
        otklik provision qr --branch b1 --kiosk k1 --url https://feedback.example.com --out k1.pdf
        otklik provision qr --branch b1 --name "Тверская, 12" --language ru --url https://... --out b1.png
        otklik provision qr list --branch b1
        otklik provision qr revoke Xy3_aB9cDe1f
    """
    if ctx.invoked_subcommand is not None:
        return
    from hub import branches
    from hub.provisioning import qr_sheet

    for option, value in (("--branch", branch), ("--url", base_url), ("--out", out)):
        if not value:
            raise click.UsageError(f"give {option} (or a subcommand: list, revoke)")
    assert branch and base_url and out
    if out.suffix.lower() not in qr_sheet.FORMATS:
        raise click.BadParameter(f"{out} must end in .png or .pdf", param_hint="--out")
    db = registry.open_hub_db(db_path)
    qr_sheet.find_font(font)  # before a code is made that no sheet shows
    token, signed = qr.create(db, qr.signing_key(db_path), branch, kiosk_id)
    link = qr.url(base_url, signed)
    page = qr_sheet.render(link, name=name or branch, language=language or branches.get(db, branch).alert_language,
                           footer=f"{token.branch}/{token.kiosk} · {token.id}", font=font)  # fmt: skip
    qr_sheet.save(page, out)
    # The id, not the link: the link is on the sheet, and anyone with it can rate this kiosk.
    click.echo(f"QR code {token.id} for {token.branch}/{token.kiosk}: {out}")


@provision_qr.command("list")
@db_option
@output_option
@click.option("--branch", help="Only this branch's codes.")
@click.option("--all", "show_all", is_flag=True, help="Include revoked codes.")
def provision_qr_list(db_path: Path, output: str, branch: str | None, show_all: bool) -> None:
    """List QR codes (their ids, never their tokens).

    \b
    Example:
        otklik provision qr list --branch b1 --all --json
    """
    db = registry.open_hub_db(db_path)
    emit([t.as_dict() for t in qr.list_tokens(db, branch=branch, show_all=show_all)], output)


@provision_qr.command("revoke")
@db_option
@click.argument("token_id")
def provision_qr_revoke(db_path: Path, token_id: str) -> None:
    """Stop a QR code: its page and its posts are refused from now on (its ratings so far stay).

    \b
    Example:
        otklik provision qr revoke Xy3_aB9cDe1f
    """
    token = qr.revoke(registry.open_hub_db(db_path), token_id)
    click.echo(f"QR code {token.id} for {token.branch}/{token.kiosk} revoked at {token.revoked_at}")


@provision.command("sync")
@db_option
@broker_dir_options
def provision_sync(db_path: Path, broker_dir: Path, reload_how: str) -> None:
    """Rewrite the broker's passwd and acl from the database and reload (e.g. after restoring a backup).

    \b
    Example:
        otklik provision sync --reload pidfile:/run/mosquitto/mosquitto.pid
    """
    _sync(registry.open_hub_db(db_path), broker_dir, reload_how)


@provision.command("ca")
@broker_dir_options
@click.option("--host", "hosts", multiple=True, required=True, help="Name or IP kiosks use for the hub (repeat).")
@click.option("--force", is_flag=True, help="Replace an existing CA (every kiosk must then be re-provisioned).")
@click.option("--server-only", is_flag=True, help="Keep the CA; only issue a new server certificate.")
def provision_ca(broker_dir: Path, reload_how: str, hosts: tuple[str, ...], force: bool, server_only: bool) -> None:
    """Make a CA and the broker's TLS certificate in BROKER_DIR/certs (uses the openssl command).

    \b
    Example:
        otklik provision ca --host hub.local --host 192.168.1.10
        otklik provision ca --server-only --host hub.local --host hub.store.example
    """
    gid = _broker_gid()
    crt = actions.make_certificates(broker_dir, list(hosts), force=force, server_only=server_only, gid=gid)
    click.echo(f"CA {crt.parent / 'ca.crt'} (kiosks get a copy), server certificate {crt} for {', '.join(hosts)}")
    if gid is None:
        click.echo(
            f"Warning: no broker group ({broker_files.DEFAULT_BROKER_GROUP} does not exist, or not root): "
            "server.key is 0600, readable only by its owner; Mosquitto must run as that user, "
            "or rerun with --broker-group GROUP.",
            err=True,
        )
    else:
        click.echo(f"server.key: 0640, group {grp.getgrgid(gid).gr_name} (the broker reads it)")
    click.echo("Restart Mosquitto to load a new certificate (a reload does not change TLS listeners).")


@provision.command("broker-config")
@click.option("--broker-dir", envvar=config.envvars("OTKLIK_BROKER_DIR"), show_envvar=True,
              default=broker_files.DEFAULT_BROKER_DIR, show_default=True, help="Files dir.")  # fmt: skip
@click.option("--tls-port", type=int, default=8883, show_default=True)
@click.option("--local-port", type=int, default=1883, show_default=True, help="Loopback listener; 0 for none.")
@click.option("--out", type=click.File("w"), default="-", help="Where to write mosquitto.conf (default stdout).")
def provision_broker_config(broker_dir: str, tls_port: int, local_port: int, out: Any) -> None:
    """Print the production mosquitto.conf (the same as deploy/mosquitto/otklik.conf for the defaults).

    \b
    Example:
        otklik provision broker-config --out /etc/mosquitto/conf.d/otklik.conf
    """
    opts = broker_files.ConfOptions(broker_dir=broker_dir, tls_port=tls_port, local_port=local_port or None)
    out.write(broker_files.render_mosquitto_conf(opts))


@provision.command("store")
@db_option
@broker_dir_options
@click.option("--branch", required=True, help="The store's branch id.")
@click.option("--central-url", envvar=config.envvars("OTKLIK_CENTRAL_BROKER_URL"), show_envvar=True,
              help="mqtts://HOST:PORT of the central broker's TLS listener, as the store reaches it.")  # fmt: skip
@click.option("--host", "hosts", multiple=True, help="Name or IP the store's kiosks use for its broker (repeat).")
@click.option("--store-dir", default=broker_files.DEFAULT_BROKER_DIR, show_default=True,
              help="Where the files will live on the store machine (the paths inside its mosquitto.conf).")  # fmt: skip
@click.option("--tls-port", type=int, default=8883, show_default=True, help="The store broker's TLS port.")
@click.option("--users-only", is_flag=True,
              help="Rewrite only OUT/passwd and OUT/acl from the branch's kiosks, e.g. after adding one.")  # fmt: skip
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
def provision_store(
    db_path: Path, broker_dir: Path, reload_how: str, branch: str, central_url: str | None, hosts: tuple[str, ...],
    store_dir: str, tls_port: int, users_only: bool, out: Path,
) -> None:  # fmt: skip
    """A store broker for BRANCH, bridged to the central broker: its bridge user and all its files.

    Registers the bridge (user bridge-BRANCH, role bridge) on the central hub
    and writes OUT/: mosquitto.conf (with the bridge's password: 0640, for the
    broker's group), passwd and acl with the branch's kiosks, and certs/ (the
    CA and a server certificate for --host). The central broker's ACL gains the
    bridge: it may write only this branch's kiosk topics and read only its
    config and receipts. Provision the store's kiosks with
    --broker-url mqtts://<store host>:<port>, then rerun with --users-only.

    \b
    Example:
        otklik provision store --branch b1 --central-url mqtts://hub.example.com:8883 \\
            --host store-b1.local --host 192.168.1.2 --out ./store-b1
        otklik provision kiosk --branch b1 --kiosk k1 --broker-url mqtts://store-b1.local:8883 --out ./k1
        otklik provision store --branch b1 --users-only --out ./store-b1
    """
    db = registry.open_hub_db(db_path)
    gid = _broker_gid()
    if users_only:
        users = store.write_store_users(out, db, branch, group=gid)
        click.echo(f"store {branch}: wrote {out / broker_files.PASSWD} and {out / broker_files.ACL} "
                   f"({len(users)} kiosks); copy them to {store_dir} and send the store broker SIGHUP")  # fmt: skip
        return
    if not central_url:
        raise click.UsageError("--central-url (or OTKLIK_CENTRAL_BROKER_URL) is required: where the bridge connects")
    if not hosts:
        raise click.UsageError("--host is required: the name kiosks use for the store broker (its certificate's)")
    files = store.write_store_broker(
        out, db, branch=branch, central_url=central_url, central_certs=broker_dir / broker_files.CERTS,
        hosts=list(hosts), conf=store.store_conf_options(branch, store_dir, tls_port), group=gid,
    )  # fmt: skip
    click.echo(
        f"store {branch}: bridge user {files.bridge.username}; wrote {files.conf}, passwd, acl "
        f"({len(files.kiosks)} kiosks) and certs/ in {out}"
    )
    click.echo(f"On the store machine: copy {out}/ to {store_dir}/ and {store.CONF} to "
               "/etc/mosquitto/conf.d/otklik.conf, then restart mosquitto")  # fmt: skip
    _sync(db, broker_dir, reload_how)


@provision.command("unpack")
@click.argument("refused", metavar="", required=False)
@click.option("--token-file", type=click.File(), default="-", show_default=True,
              help="File holding the bootstrap token or line; - is stdin.")  # fmt: skip
@click.option("--etc", "etc_dir", default=bundle.ETC_DIR, show_default=True, type=click.Path(path_type=Path))
def provision_unpack(refused: str | None, token_file: Any, etc_dir: Path) -> None:
    """On the kiosk: write config, password and CA from a bootstrap token read from stdin or a file.

    The token holds the kiosk's password, so it is never taken as an argument:
    anyone on the machine can read a command line (`ps`). deploy/pi/setup-kiosk.sh
    pipes it in.

    \b
    Example:
        otklik provision unpack --etc /etc/otklik < bootstrap.txt
    """
    if refused is not None:
        raise click.UsageError(
            "the bootstrap token is not taken on the command line, where `ps` shows it to everyone: "
            "pipe it in (otklik provision unpack < bootstrap.txt) or pass --token-file"
        )
    path = bundle.unpack_token(bundle.find_token(token_file.read()), etc_dir)
    click.echo(f"wrote {path}")


# --- otklik config ------------------------------------------------------------


def mqtt_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``otklik.command.broker_options`` without --mqtt-version (a config push is MQTT 5)."""
    return broker_options(
        required=False,
        versions=False,
        username_default=CONFIG_PUSH_USER,
        username_help="A hub credential of its own (otklik provision service hub --name push): the broker "
        "ties client ids to usernames, so pushing as the running hub's user would take over its session.",
    )(fn)


def _push(db: Any, broker_url: str | None, username: str, password_file: Path | None, ca_file: str | None,
          kiosks: list[tuple[str, str]]) -> None:  # fmt: skip
    from hub import config_push

    if not broker_url:
        click.echo("saved; not pushed (no --broker): run `otklik config push --broker URL` to publish")
        return
    broker = broker_from(broker_url, username, password_file, ca_file)
    for branch, kiosk, version in config_push.push(broker, db, kiosks):
        click.echo(f"pushed {branch}/{kiosk} config version {version}")


@group("config")
def config_group() -> None:
    """Kiosk settings pushed from the hub: labels, cooldown, employee, the branch's opening hours.

    Each change gets a new version, is published retained on the kiosk's config
    topic, and the kiosk applies it without a restart; its heartbeat reports the
    version it runs.

    \b
    Example:
        otklik config set --branch b1 --kiosk k1 --cooldown 3 --broker mqtt://127.0.0.1:1883
        otklik config show --branch b1
    """


@config_group.command("set")
@db_option
@mqtt_options
@click.option("--branch", required=True, help="Branch id.")
@click.option("--kiosk", "kiosk_ids", multiple=True, help="Kiosk id (repeat); default: every kiosk of the branch.")
@click.option("--label", "labels", multiple=True, help="Button label, once per button in score order.")
@click.option("--cooldown", type=float, help="Seconds before a press counts again.")
@click.option(
    "--hours",
    help="The branch's opening hours, e.g. 'mon-fri 08:00-21:00; sat,sun 10:00-18:00' ('' = always open); "
    "every kiosk of the branch sleeps outside them.",
)
@click.option("--employee", help="Bind to an employee id ('' unbinds).")
@click.option(
    "--followup",
    "followup_file",
    type=click.File(encoding="utf-8"),
    help="JSON file of the touch screen's follow-up questions (README: Follow-up questions).",
)
@click.option("--reset", "resets", multiple=True, help="Drop a setting back to the kiosk's file value (repeat).")
def config_set(
    db_path: Path, broker_url: str | None, username: str, password_file: Path | None, ca_file: str | None,
    branch: str, kiosk_ids: tuple[str, ...], labels: tuple[str, ...], cooldown: float | None, hours: str | None,
    employee: str | None, followup_file: TextIO | None, resets: tuple[str, ...],
) -> None:  # fmt: skip
    """Change kiosk settings, bump their version and push them (with --broker).

    Opening hours are the branch's (the same as `otklik branch set --hours`, which the
    misuse rule reads), so --hours changes every kiosk of the branch.

    \b
    Example:
        otklik config set --branch b1 --kiosk k1 --cooldown 3 \\
            --label Bad --label Meh --label Good --label Great \\
            --broker mqtt://127.0.0.1:1883 --password-file /etc/otklik/otklik-hub-push.password
        otklik config set --branch b1 --hours 'mon-fri 08:00-21:00; sat,sun 10:00-18:00; fri 08:00-02:00'
    """
    from hub import branches, config_push

    changes: dict[str, Any] = {name: None for name in resets}
    if labels:
        changes["labels"] = list(labels)
    if cooldown is not None:
        changes["cooldown_s"] = cooldown
    if employee is not None:
        changes["employee"] = employee or None
    if followup_file is not None:
        try:
            changes["followup"] = json.load(followup_file)
        except ValueError as err:
            raise click.BadParameter(f"not JSON: {err}", param_hint="--followup") from None
    if not changes and hours is None:
        raise click.UsageError(
            "nothing to change: give --label, --cooldown, --hours, --employee, --followup or --reset"
        )
    if hours is not None and kiosk_ids:
        raise click.UsageError("--hours are the branch's: leave out --kiosk (every kiosk of the branch gets them)")
    db = registry.open_hub_db(db_path)
    kiosks = list(kiosk_ids) or [c.kiosk for c in registry.all_credentials(db) if c.branch == branch and c.kiosk]
    if not kiosks:
        raise click.ClickException(f"branch {branch!r} has no provisioned kiosks; name them with --kiosk")
    touched: dict[str, int] = {}
    if hours is not None:
        try:
            branches.update(db, branch, hours=hours)
        except SettingsError as err:
            raise click.BadParameter(str(err), param_hint="--hours") from None
        touched.update(config_push.sync_branch(db, branch))
    if changes:
        touched.update((kiosk, config_push.set_settings(db, branch, kiosk, changes)) for kiosk in kiosks)
    for kiosk, version in touched.items():
        click.echo(f"{branch}/{kiosk}: config version {version}")
    _push(db, broker_url, username, password_file, ca_file, [(branch, k) for k in touched])


@config_group.command("push")
@db_option
@mqtt_options
@click.option("--all", "push_all", is_flag=True, help="Republish every kiosk's config, not only unpublished ones.")
def config_push_cmd(
    db_path: Path, broker_url: str | None, username: str, password_file: Path | None, ca_file: str | None,
    push_all: bool,
) -> None:  # fmt: skip
    """Publish saved settings the broker does not hold yet (or all with --all).

    \b
    Example:
        otklik config push --broker mqtt://127.0.0.1:1883 --password-file /etc/otklik/otklik-hub-push.password
    """
    from hub import config_push

    if not broker_url:
        raise click.UsageError("--broker (or OTKLIK_BROKER) is required")
    db = registry.open_hub_db(db_path)
    kiosks = config_push.targets(db, pending_only=not push_all)
    if not kiosks:
        click.echo("nothing to push")
    _push(db, broker_url, username, password_file, ca_file, kiosks)


@config_group.command("show")
@db_option
@output_option
@click.option("--branch", help="Only this branch.")
def config_show(db_path: Path, output: str, branch: str | None) -> None:
    """Show each kiosk's settings, version and whether the broker has it.

    \b
    Example:
        otklik config show --branch b1
    """
    db = registry.open_hub_db(db_path)
    where, args = ("branch = ?", [branch]) if branch else (None, [])
    rows = [
        {
            "branch": row["branch"],
            "kiosk": row["kiosk"],
            "version": row["version"],
            "published": row["published_version"] == row["version"],
            "settings": json.loads(row["settings"]),
        }
        for row in db["kiosk_settings"].rows_where(where, args, order_by="branch, kiosk")
    ]
    emit(rows, output)


COMMANDS: list[click.Command] = [provision, config_group]
