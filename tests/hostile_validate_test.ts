/**
 * `ferrolb validate` on hostile files finishes with an error naming the file and the limit
 * (exit 1), under the `ferrolb` task's permissions: from another directory, where the parser
 * worker's code may not be read (bounded parsing on the main thread), and with the program's
 * directory readable as the launcher grants it (the worker with its deadline).
 */
import assert from "node:assert/strict";
import { REPO_ROOT, taskPermissionFlags } from "./e2e_helpers.ts";
import { aliasBomb, deepNesting, serviceAliasBomb } from "./soak/hostile_files.ts";

async function validate(dir: string, flags: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      `${REPO_ROOT}/deno.json`,
      ...flags,
      `${REPO_ROOT}/main.ts`,
      "validate",
      ".",
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

for (
  const [how, flags] of [
    ["task flags, run from elsewhere", taskPermissionFlags()],
    [
      "program directory readable (worker)",
      taskPermissionFlags().map((f) => f.startsWith("--allow-read=") ? `${f},${REPO_ROOT}` : f),
    ],
  ] as const
) {
  Deno.test(`ferrolb validate on bombs exits 1 naming file and limit (${how})`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "ferrolb-hostile-validate-" });
    try {
      await Deno.writeTextFile(`${dir}/bomb.yaml`, aliasBomb(9));
      await Deno.writeTextFile(`${dir}/ports.yaml`, serviceAliasBomb(8));
      await Deno.writeTextFile(`${dir}/deep.yaml`, deepNesting(100_000));
      const { code, out } = await validate(dir, [...flags]);
      assert.equal(code, 1, out);
      assert.match(
        out,
        /^\.\/bomb\.yaml: .*YAML alias expansion reaches [\d,]+ nodes \(limit 10,000,000\)$/m,
      );
      assert.match(out, /^\.\/ports\.yaml: .*alias expansion reaches .*\(limit/m);
      assert.match(out, /^\.\/deep\.yaml: .*nesting exceeded maxDepth \(100\)$/m);
      assert.match(out, /^invalid: 3 problem\(s\)/m);
      assert.doesNotMatch(out, /RangeError|Uncaught/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
