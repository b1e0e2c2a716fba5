#!/usr/bin/env node
// @ts-check
/**
 * `ferrolb` launcher for `npx ferrolb` / `npm link` (Node 20) and `deno install` (Deno): runs
 * the pinned Deno from node_modules on main.ts with the permissions this command line needs
 * (bin/permissions.mjs), in the caller's working directory so relative paths mean what the
 * user typed. No dependencies.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { ENV_VARS, permissionFlags, scanArgs, V8_FLAGS } from "./permissions.mjs";

/** Variables the child Deno needs besides ferrolb's own (its cache location, colours). */
const DENO_ENV = ["DENO_DIR", "XDG_CACHE_HOME", "NO_COLOR", "TMPDIR"];

const root = dirname(dirname(realpathSync(fileURLToPath(import.meta.url))));
const underDeno = "Deno" in globalThis;

/** @param {string} name */
function readEnv(name) {
  try {
    return process.env[name];
  } catch {
    return undefined; // Deno without --allow-env for this name
  }
}

/** @param {string} path */
function exists(path) {
  try {
    return existsSync(path);
  } catch {
    return false;
  }
}

/** @param {string} path */
function readText(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Where the demo's throwaway state goes: the program's Deno.makeTempDir uses TMPDIR too. */
function tempDir() {
  try {
    return tmpdir();
  } catch {
    return readEnv("TMPDIR") ?? "/tmp"; // Deno without --allow-env=TMP,TEMP
  }
}

function findDeno() {
  for (
    const p of [
      join(root, "node_modules", "deno", "deno"),
      join(root, "node_modules", ".bin", "deno"),
    ]
  ) {
    if (exists(p)) return p;
  }
  return underDeno ? process.execPath : undefined;
}

/** Node passes its whole environment; under Deno only the variables it may read. */
function childEnv() {
  if (!underDeno) return process.env;
  /** @type {Record<string, string>} */
  const env = {};
  for (const name of [...ENV_VARS, ...DENO_ENV]) {
    const v = readEnv(name);
    if (v !== undefined) env[name] = v;
  }
  return env;
}

const deno = findDeno();
if (!deno) {
  process.stderr.write(`ferrolb: the pinned Deno is missing: run \`npm ci\` in ${root}\n`);
  process.exit(1);
}
const argv = process.argv.slice(2);
const table = JSON.parse(readFileSync(join(root, "cmd", "flags.json"), "utf8"));
const perms = permissionFlags(scanArgs(argv, table), {
  root,
  cwd: process.cwd(),
  tmpdir: tempDir(),
  env: readEnv,
  exists,
  readText,
});
const args = [
  "run",
  "--no-prompt",
  "--no-lock",
  // Memory tuning (issue 13), as `deno task compile` and the image bake it.
  `--v8-flags=${V8_FLAGS}`,
  `--config=${join(root, "deno.json")}`,
  ...perms,
  join(root, "main.ts"),
  ...argv,
];
if (readEnv("FERROLB_LAUNCH_DEBUG") === "1") process.stderr.write(`${deno} ${args.join(" ")}\n`);
if (underDeno) await runUnderDeno(deno, args);
else runUnderNode(deno, args);

// Ctrl-C reaches the whole foreground process group, ferrolb included: forwarding it would
// make a second SIGINT that cuts its graceful stop (Cease to peers) short. SIGTERM and SIGHUP
// are sent to this process alone (kill, systemd, npm), so they are passed on.

/**
 * @param {string} deno
 * @param {string[]} args
 */
function runUnderNode(deno, args) {
  const child = spawn(deno, args, { stdio: "inherit", env: childEnv() });
  process.on("SIGINT", () => {});
  for (const sig of /** @type {const} */ (["SIGTERM", "SIGHUP"])) {
    process.on(sig, () => child.kill(sig));
  }
  child.on("error", (err) => {
    process.stderr.write(`ferrolb: cannot run ${deno}: ${err.message}\n`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}

/**
 * `deno install` runs this file under Deno, whose node:child_process reads variables the
 * launcher may not: Deno's own API spawns with exactly the environment given.
 * @param {string} deno
 * @param {string[]} args
 */
async function runUnderDeno(deno, args) {
  const D = /** @type {any} */ (globalThis).Deno;
  const child = new D.Command(deno, {
    args,
    env: childEnv(),
    clearEnv: true,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  D.addSignalListener("SIGINT", () => {});
  for (const sig of ["SIGTERM", "SIGHUP"]) D.addSignalListener(sig, () => child.kill(sig));
  const status = await child.status;
  /** @type {Record<string, number>} */
  const numbers = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  // A shell reports death by signal N as 128 + N.
  D.exit(status.signal ? 128 + (numbers[status.signal] ?? 15) : status.code);
}
