import type { Command } from 'commander';
import { pageRequest } from '../platform/http/pagination.ts';
import { table } from './output.ts';
import { asInput, noCa, requireApp, scopeFlags, type Run } from './cli-services.ts';
import { CliInputError } from './cli-config.ts';
import { KEY_STORAGES, type KeyStorage } from '../signers/ca-key-token.ts';

/** How the audit trail names an operator acting on the data directory. */
const CLI = 'cli';

/** The flags every `ca` verb takes: which app's CA. */
const forApp = (c: Command): Command =>
  c.requiredOption('--account <id>', 'account id').option('--zone <id>', 'the app is zone-level')
    .requiredOption('--app <id>', 'application id').option('--json', 'print JSON');

/**
 * The token flags of the verbs that make or destroy keys (as serve's; the ACCESS_CA_PKCS11_* variables
 * do as well), and `--key-storage` where a key is made.
 */
const withToken = (c: Command, keyStorage?: string): Command => {
  const flagged = c.option('--pkcs11-module <path>', 'the PKCS#11 module of the token CA keys live in (env ACCESS_CA_PKCS11_MODULE)')
    .option('--pkcs11-token-label <label>', 'the token\'s label (env ACCESS_CA_PKCS11_TOKEN_LABEL)')
    .option('--pkcs11-pin-file <file>', 'a file of mode 0600 or stricter holding the token\'s PIN (env ACCESS_CA_PKCS11_PIN_FILE)');
  return keyStorage ? flagged.option('--key-storage <where>', keyStorage) : flagged;
};

/** `--key-storage`: sealed or pkcs11; undefined when not given. */
function keyStorageOf(value: string | undefined): KeyStorage | undefined {
  if (value === undefined) return undefined;
  if (!(KEY_STORAGES as readonly string[]).includes(value)) throw new CliInputError(`--key-storage must be one of ${KEY_STORAGES.join(', ')}; got ${JSON.stringify(value)}`);
  return value as KeyStorage;
}

/** `--to` of migrate-key: where the CA's key moves, by a rotation to a new key made there. */
function migrationTarget(value: string): KeyStorage {
  if (!(KEY_STORAGES as readonly string[]).includes(value)) {
    throw new CliInputError(`--to must be one of ${KEY_STORAGES.join(', ')} (pkcs11 moves the CA's key into the token, sealed moves it back into the store); got ${JSON.stringify(value)}`);
  }
  return value as KeyStorage;
}

const WHERE: Record<KeyStorage, string> = { pkcs11: 'in the PKCS#11 token', sealed: 'sealed in the store' };

/** Registers the `ca` verbs: an app's CA and its key rotation, offline on the data dir, audited as `cli`. */
export function registerCaCommands(program: Command, run: Run): void {
  const ca = program.command('ca').description('manage an application\'s SSH CA and rotate its key (rotate → activate → retire)');

  withToken(forApp(ca.command('create').description('create the app\'s CA; prints its public key')),
    'where its key lives: sealed (in the store, under the master key; the default) or pkcs11 (made inside the PKCS#11 token, never leaving it)')
    .action((o) => run(o.json, async (s, out) => {
      const storage = keyStorageOf(o.keyStorage);
      const { scope, app } = await requireApp(s, o);
      const made = await asInput(s.cas.create(scope, app.id, CLI, storage));
      out.result(made, `CA ${made.id} created for application ${o.app}${storage === 'pkcs11' ? ', its key in the PKCS#11 token' : ''}; its public key:\n${made.public_key}`, made.public_key);
    }, o));
  ca.command('list').description('list the CAs of an account\'s (or one zone\'s) applications')
    .requiredOption('--account <id>', 'account id').option('--zone <id>', 'the zone-level applications of this zone').option('--json', 'print JSON')
    .action((o) => run(o.json, async ({ identity, cas }, out) => {
      const scope = await identity.resolveScope(o.account, o.zone);
      const all = [];
      for (let page = 1; ; page++) {
        const { items } = await cas.list(scope, pageRequest({ page: String(page), per_page: '1000' }));
        all.push(...items);
        if (items.length < 1000) break;
      }
      out.result({ cas: all }, table(all, ['id', 'aud']));
    }));
  forApp(ca.command('get').description('show the app\'s CA and the key that signs'))
    .action((o) => run(o.json, async (s, out) => {
      const { scope, app } = await requireApp(s, o);
      const got = await asInput(s.cas.get(scope, app.id), { notFound: noCa(o) });
      out.result(got, `CA ${got.id} (aud ${got.aud}) signs with:\n${got.public_key}`, got.public_key);
    }));
  withToken(forApp(ca.command('delete').description('delete the app\'s CA and all its keys; its certificates stop being issued at once; keys in a token are destroyed there after')))
    .action((o) => run(o.json, async (s, out) => {
      const { scope, app } = await requireApp(s, o);
      const gone = await asInput(s.cas.delete(scope, app.id, CLI), { notFound: noCa(o) });
      out.result(gone, `CA ${gone.id} deleted`);
    }, o));
  withToken(forApp(ca.command('rotate').description('add a next key; put it in your servers\' TrustedUserCAKeys (ca trusted-keys) before activating it')),
    'where the next key lives: sealed or pkcs11 (default: where the active key lives); pkcs11 moves a sealed CA into the token by this rotation')
    .action((o) => run(o.json, async (s, out) => {
      const storage = keyStorageOf(o.keyStorage);
      const { scope, app } = await requireApp(s, o);
      const key = await asInput(s.cas.rotate(scope, app.id, CLI, storage), { notFound: noCa(o) });
      out.result(key, `next key ${key.id} added${storage === 'pkcs11' ? ' in the PKCS#11 token' : ''}. Have servers trust it (access-ca ca trusted-keys), then run ca activate:\n${key.public_key}`);
    }, o));
  withToken(forApp(ca.command('migrate-key').description('move the CA\'s key into the PKCS#11 token (or back) by a rotation: a new key is made there, never the old one copied; then trust it, ca activate, ca retire'))
    .requiredOption('--to <where>', 'pkcs11 (a new key made inside the token) or sealed (a new key sealed in the store)'))
    .action((o) => run(o.json, async (s, out) => {
      const to = migrationTarget(o.to);
      const { scope, app } = await requireApp(s, o);
      const { keys } = await asInput(s.cas.trustedKeys(scope, app.id), { notFound: noCa(o) });
      const active = keys.find((k) => k.state === 'active')!;
      const from: KeyStorage = active.key_storage ?? 'sealed';
      if (from === to) {
        throw new CliInputError(`the CA's key ${active.id} already lives ${WHERE[to]}: nothing to move (ca rotate --key-storage ${to} replaces it with a new key there)`);
      }
      // A rotation, as ca rotate --key-storage: the active key signs on, untouched, until activate and retire.
      const key = await asInput(s.cas.rotate(scope, app.id, CLI, to), { notFound: noCa(o) });
      const flags = `${scopeFlags(o)} --app ${o.app}`;
      // Retire destroys a token key in the token: that verb needs the token when the old key is there.
      const tokenFlags = from === 'pkcs11' ? ' (with the --pkcs11-* flags or ACCESS_CA_PKCS11_* variables, to destroy it in the token)' : '';
      const nextSteps = [
        `have servers trust the new key: sshd-sync picks it up at its next round, or put the output of access-ca ca trusted-keys ${flags} in their TrustedUserCAKeys`,
        `access-ca ca activate ${flags}`,
        `once the old key's certificates have expired: access-ca ca retire ${flags}${tokenFlags}`,
      ];
      out.result({ ...key, previous_key_id: active.id, previous_key_storage: from, next_steps: nextSteps },
        `next key ${key.id} made ${WHERE[to]}; key ${active.id} (${WHERE[from]}) still signs, untouched. To finish the move:\n${nextSteps.map((step, i) => `  ${i + 1}. ${step}`).join('\n')}\nThe new key:\n${key.public_key}`,
        key.public_key);
    }, o));
  forApp(ca.command('activate').description('sign with the next key from now on; the old key stays trusted as previous until retired'))
    .action((o) => run(o.json, async (s, out) => {
      const { scope, app } = await requireApp(s, o);
      const key = await asInput(s.cas.activate(scope, app.id, CLI), { notFound: noCa(o) });
      out.result(key, `key ${key.id} signs now; the previous key stays trusted until ca retire`);
    }));
  withToken(forApp(ca.command('retire').description('delete the previous key; servers that drop it refuse the certificates it signed; a key in a token is destroyed there after')))
    .action((o) => run(o.json, async (s, out) => {
      const { scope, app } = await requireApp(s, o);
      const retired = await asInput(s.cas.retire(scope, app.id, CLI), { notFound: noCa(o) });
      out.result(retired, `previous key ${retired.id} retired; remove it from your servers' TrustedUserCAKeys (ca trusted-keys)`);
    }, o));
  forApp(ca.command('trusted-keys').description('the keys servers should trust now, and the TrustedUserCAKeys file that lists them'))
    .action((o) => run(o.json, async (s, out) => {
      const { scope, app } = await requireApp(s, o);
      const trusted = await asInput(s.cas.trustedKeys(scope, app.id), { notFound: noCa(o) });
      out.result(trusted, `${table(trusted.keys, ['id', 'state', 'created_at'])}\n\nTrustedUserCAKeys:\n${trusted.trusted_user_ca_keys}`, trusted.trusted_user_ca_keys);
    }));
}
