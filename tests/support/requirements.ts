/**
 * Everything outside Deno that the tests, the interop suite and the benchmark smoke run call:
 * one list, the only place where a Debian package is named for the test machinery.
 *
 * `.ci/run` installs exactly `deno run tests/support/requirements.ts packages` (with
 * `--no-install-recommends`, so a package the tests need only as a *recommendation* of another
 * one must be listed itself: swaks' TLS needs `libnet-ssleay-perl` and `libio-socket-ssl-perl`,
 * which swaks merely recommends). Then `deno run tests/support/requirements.ts check` proves that every
 * program, Perl module and Python module is really there, and fails early with the missing piece
 * and its package, instead of an assertion deep inside a test. `deno task test` and
 * `deno task test:interop` run the check for their part first.
 *
 * Adding a test that calls a new program: add it here, under the package that provides it.
 *
 * @module
 */

/** One Debian package and what of it the tests use. */
export interface Requirement {
  /** The Debian package name. */
  package: string;
  /** Which tests need it, in a few words. */
  usedBy: string;
  /** Which suite needs it: `test` (the README command) or `interop` (and the bench smoke run). */
  suite: "test" | "interop";
  /** Programs looked up on PATH (and in /usr/sbin, where Debian puts daemons). */
  programs?: string[];
  /** Perl modules (`perl -MModule -e 1`). */
  perl?: string[];
  /**
   * Python 3 modules, checked with Debian's interpreter {@link DEBIAN_PYTHON} (a python3 earlier
   * on PATH, e.g. from pyenv, does not see Debian's python3-* packages; the tests that import
   * them call that interpreter by its path).
   */
  python?: string[];
  /** Files the package installs that the tests rely on (data, such as fonts). */
  files?: string[];
}

/** The interpreter Debian's python3-* packages install into. */
export const DEBIAN_PYTHON = "/usr/bin/python3";

/** The packages, each with the reason it is here. */
export const REQUIREMENTS: readonly Requirement[] = [
  {
    package: "mount",
    usedBy: "disk-full tests mount a small tmpfs (queue store, spool durability)",
    suite: "test",
    programs: ["mount", "umount"],
  },
  {
    package: "python3",
    usedBy:
      "DSN test: Python's email package parses our multipart/report; smtplib and imaplib interop" +
      "; DMARC report test: gzip and xml.etree read our aggregate report",
    suite: "test",
    programs: ["python3", DEBIAN_PYTHON],
    python: ["email", "smtplib", "imaplib", "ssl", "json", "gzip", "xml.etree.ElementTree"],
  },
  {
    package: "coreutils",
    usedBy: "Dovecot and Postfix interop: id names the user they run as (essential, always there)",
    suite: "interop",
    programs: ["id"],
  },
  {
    package: "libc-bin",
    usedBy: "Dovecot interop: getent looks up the system user (essential, always there)",
    suite: "interop",
    programs: ["getent"],
  },
  {
    package: "procps",
    usedBy: "Postfix interop: ps finds the processes Postfix leaves behind",
    suite: "interop",
    programs: ["ps"],
  },
  {
    package: "openssl",
    usedBy:
      "openssl s_client -starttls smtp; certificates for the Postfix peer and a stranger's for mbsync; " +
      "s_client -alpn acme-tls/1 -tls1_3 against the tls-alpn-01 responder",
    suite: "interop",
    programs: ["openssl"],
  },
  {
    package: "swaks",
    usedBy: "swaks delivers over SMTP and submits with AUTH PLAIN/LOGIN",
    suite: "interop",
    programs: ["swaks"],
    perl: ["MIME::Base64"],
  },
  {
    package: "libnet-ssleay-perl",
    usedBy: "swaks --tls/--tlsc (only recommended by swaks)",
    suite: "interop",
    perl: ["Net::SSLeay"],
  },
  {
    package: "libio-socket-ssl-perl",
    usedBy: "swaks --tls/--tlsc (only recommended by swaks)",
    suite: "interop",
    perl: ["IO::Socket::SSL"],
  },
  {
    package: "dovecot-imapd",
    usedBy: "Dovecot reads postie's Maildir over IMAP; the bench's IMAP tests compare with it",
    suite: "interop",
    programs: ["dovecot", "doveconf"],
  },
  {
    package: "dovecot-core",
    usedBy: "imaptest (../shared/tools/imaptest) links Dovecot's libdovecot.so; the bench " +
      "hashes Dovecot's password with doveadm pw",
    suite: "interop",
    programs: ["doveadm"],
  },
  {
    package: "python3-spf",
    usedBy: "pyspf agrees with our SPF verdicts",
    suite: "interop",
    python: ["spf"],
  },
  {
    package: "python3-dnspython",
    usedBy: "pyspf and dkimpy look up the loopback DNS server",
    suite: "interop",
    python: ["dns.resolver"],
  },
  {
    package: "python3-dkim",
    usedBy: "dkimpy verifies our signatures and signs mail we verify",
    suite: "interop",
    python: ["dkim"],
  },
  {
    package: "python3-nacl",
    usedBy: "dkimpy's ed25519-sha256 (RFC 8463)",
    suite: "interop",
    python: ["nacl.signing"],
  },
  {
    package: "isync",
    usedBy: "mbsync syncs INBOX both ways between postie's IMAPS and a local Maildir",
    suite: "interop",
    programs: ["mbsync"],
  },
  {
    package: "pebble",
    usedBy: "ACME test CA (tests/support/pebble.ts): the ACME client's interop test and the " +
      "server's ACME end-to-end tests issue certificates from it",
    suite: "test",
    programs: ["pebble"],
  },
  {
    package: "chromium",
    usedBy: "the admin page's browser tests (tests/browser) drive headless Chromium with " +
      "puppeteer-core",
    suite: "test",
    programs: ["chromium"],
  },
  {
    package: "fonts-liberation",
    usedBy: "readable text in the browser tests' screenshots (chromium only recommends a font, " +
      "and CI installs no recommended packages)",
    suite: "test",
    files: ["/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"],
  },
  {
    package: "postfix",
    usedBy: "Postfix as peer; smtp-source and smtp-sink in interop and the bench smoke run",
    suite: "interop",
    programs: ["postfix", "postconf", "smtp-source", "smtp-sink"],
  },
];

/**
 * Data outside the repository that the tests read: the conformance suites live beside the
 * repository in `../shared/` (never copied into it), so a clone elsewhere cannot run them.
 */
export const SHARED_DATA: readonly { path: string; usedBy: string }[] = [
  {
    path: "../shared/conformance/spf/rfc7208-tests.yml",
    usedBy: "SPF, DKIM, DMARC, smuggling and open-relay conformance tests",
  },
];

/** A piece that is not there. */
export interface Missing {
  /** What is missing, e.g. `program swaks` or `perl module Net::SSLeay`. */
  what: string;
  /** The package that provides it. */
  package: string;
  /** Why the tests need it. */
  usedBy: string;
}

function onPath(program: string): boolean {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"];
  for (const d of dirs) {
    if (d === "") continue;
    try {
      const st = Deno.statSync(program.startsWith("/") ? program : `${d}/${program}`);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Every requirement of the given suites that is not satisfied on this machine. */
export async function findMissing(
  suites: readonly Requirement["suite"][],
  requirements: readonly Requirement[] = REQUIREMENTS,
): Promise<Missing[]> {
  const missing: Missing[] = [];
  const add = (r: Requirement, what: string) =>
    missing.push({ what, package: r.package, usedBy: r.usedBy });
  for (const r of requirements) {
    if (!suites.includes(r.suite)) continue;
    for (const p of r.programs ?? []) if (!onPath(p)) add(r, `program ${p}`);
    for (const f of r.files ?? []) {
      try {
        Deno.statSync(f);
      } catch {
        add(r, `file ${f}`);
      }
    }
    for (const m of r.perl ?? []) {
      if (!await succeeds("perl", [`-M${m}`, "-e", "1"])) add(r, `perl module ${m}`);
    }
    for (const m of r.python ?? []) {
      if (!await succeeds(DEBIAN_PYTHON, ["-c", `import ${m}`])) {
        add(r, `python3 module ${m}`);
      }
    }
  }
  return missing;
}

/** The shared data files that are absent, as paths relative to the repository root. */
export function findMissingData(repoRoot: string): string[] {
  return SHARED_DATA.filter((d) => {
    try {
      return !Deno.statSync(`${repoRoot}/${d.path}`).isFile;
    } catch {
      return true;
    }
  }).map((d) => `${d.path} (${d.usedBy})`);
}

/** The message for missing pieces: one line each, then the command that installs them. */
export function formatMissing(missing: readonly Missing[]): string {
  const lines = missing.map((m) => `  ${m.what}: package ${m.package} (${m.usedBy})`);
  const pkgs = [...new Set(missing.map((m) => m.package))].join(" ");
  return `missing what the tests call:\n${lines.join("\n")}\n` +
    `install: apt-get install --no-install-recommends ${pkgs}\n`;
}

const USAGE =
  `usage: deno run --allow-read --allow-env --allow-run tests/support/requirements.ts COMMAND
  packages              print every Debian package the tests need, one per line
  check [SUITE ...]     verify that everything is installed (suites: test, interop; default both)`;

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const enc = new TextEncoder();
  if (command === "packages") {
    await Deno.stdout.write(enc.encode(REQUIREMENTS.map((r) => r.package).join("\n") + "\n"));
    return 0;
  }
  if (command === "check") {
    const suites = rest.length > 0 ? rest : ["test", "interop"];
    const bad = suites.filter((s) => s !== "test" && s !== "interop");
    if (bad.length > 0) {
      await Deno.stderr.write(enc.encode(`unknown suite ${bad.join(", ")}\n${USAGE}\n`));
      return 2;
    }
    const missing = await findMissing(suites as Requirement["suite"][]);
    const root = new URL("../..", import.meta.url).pathname;
    const data = findMissingData(root);
    if (missing.length === 0 && data.length === 0) return 0;
    if (missing.length > 0) await Deno.stderr.write(enc.encode(formatMissing(missing)));
    for (const d of data) {
      await Deno.stderr.write(enc.encode(
        `missing shared data ${d}: the repository must sit beside shared/ (e.g. work/main and work/shared)\n`,
      ));
    }
    return 1;
  }
  await Deno.stderr.write(enc.encode(`${USAGE}\n`));
  return 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
