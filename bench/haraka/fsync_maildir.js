// Haraka queue plugin for postie's benchmark (bench/haraka.ts copies it into the instance as
// plugins/queue/fsync_maildir.js): durable Maildir delivery, so that Haraka's 250 means the
// same as postie's and Postfix's. Each message is written to <maildir>/tmp/<unique>, fsynced,
// renamed into <maildir>/new/, and new/ is fsynced; only then does the client get 250 (OK).
// Any failure is a 451 (DENYSOFT): the client keeps the message.
//
// config/fsync_maildir.ini: [main] maildir=/abs/path (one Maildir for every recipient: the
// benchmark sends to a single mailbox).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const os = require("node:os");

let counter = 0;

exports.register = function () {
  const cfg = this.config.get("fsync_maildir.ini");
  this.maildir = cfg.main.maildir;
  if (!this.maildir) throw new Error("fsync_maildir: [main] maildir is not set");
  for (const sub of ["tmp", "new", "cur"]) {
    fs.mkdirSync(path.join(this.maildir, sub), { recursive: true, mode: 0o700 });
  }
  this.host = os.hostname().replace(/[/:]/g, "_");
};

function fsyncPath(p, cb) {
  fs.open(p, "r", (err, fd) => {
    if (err) return cb(err);
    fs.fsync(fd, (err2) => fs.close(fd, () => cb(err2)));
  });
}

exports.hook_queue = function (next, connection) {
  const txn = connection.transaction;
  const name = `${Date.now()}.P${process.pid}Q${++counter}.${this.host}`;
  const tmp = path.join(this.maildir, "tmp", name);
  const dest = path.join(this.maildir, "new", name);
  let done = false;
  const finish = (err) => {
    if (done) return;
    done = true;
    if (err) {
      connection.logerror(this, `storing failed: ${err.message}`);
      fs.unlink(tmp, () => next(DENYSOFT, "Temporary storage failure"));
      return;
    }
    next(OK, `Queued as ${name}`);
  };
  fs.open(tmp, "wx", 0o600, (err, fd) => {
    if (err) return finish(err);
    const ws = fs.createWriteStream(null, { fd, autoClose: false });
    ws.on("error", (e) => fs.close(fd, () => finish(e)));
    ws.on("finish", () => {
      fs.fsync(fd, (e1) => {
        fs.close(fd, (e2) => {
          if (e1 || e2) return finish(e1 || e2);
          fs.rename(tmp, dest, (e3) => {
            if (e3) return finish(e3);
            fsyncPath(path.join(this.maildir, "new"), finish);
          });
        });
      });
    });
    txn.message_stream.pipe(ws);
  });
};
