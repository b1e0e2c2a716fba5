/**
 * The PKI of a throwaway API server, made with the `openssl` CLI: a CA, the serving
 * certificate, an admin client certificate (group system:masters) and the service-account
 * signing key pair.
 */

/** Paths of the PEM files under the directory given to {@linkcode createClusterPki}. */
export interface ClusterPki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  /** Service-account token signing key (private) and its public half. */
  saKey: string;
  saPub: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr);
    throw new Error(`openssl ${args.slice(0, 2).join(" ")} failed (exit ${out.code}): ${err}`);
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A key and a certificate for `subject`, signed by the CA in `dir`, with `ext` extensions. */
async function signed(dir: string, name: string, subject: string, ext: string[]): Promise<void> {
  await openssl(
    ["req", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject],
    dir,
  );
  await Deno.writeTextFile(`${dir}/${name}.ext`, ext.join("\n") + "\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  ], dir);
}

/** Creates the CA, serving and admin certificates and the service-account keys in `dir`. */
export async function createClusterPki(dir: string): Promise<ClusterPki> {
  await openssl([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=ferrolb-realkube-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ], dir);
  await signed(dir, "server", "/CN=kube-apiserver", [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc",
  ]);
  // The organisation is the group: system:masters is cluster-admin without any binding.
  await signed(dir, "admin", "/O=system:masters/CN=realkube-admin", [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=clientAuth",
  ]);
  await openssl([
    "genpkey",
    "-algorithm",
    "RSA",
    "-pkeyopt",
    "rsa_keygen_bits:2048",
    "-out",
    "sa.key",
  ], dir);
  await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  const p = (f: string) => `${dir}/${f}`;
  return {
    caCert: p("ca.crt"),
    caKey: p("ca.key"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    adminCert: p("admin.crt"),
    adminKey: p("admin.key"),
    saKey: p("sa.key"),
    saPub: p("sa.pub"),
  };
}
