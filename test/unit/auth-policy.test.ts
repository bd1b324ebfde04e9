/**
 * The access rules (src/auth/policy.ts), scopes (src/auth/scope.ts) and the
 * Authorization / WWW-Authenticate headers (src/auth/headers.ts), as pure code.
 *
 * The precedence tests each set up rules where the rule that must win would
 * lose under the next tie-breaker (or under the order they are written in),
 * so a policy that skipped or reordered a tie-breaker gives the other answer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AccessPolicy, ANONYMOUS, globToRegExp, type Principal } from '../../src/auth/policy.js';
import { basicChallenge, bearerChallenge, parseAuthorization } from '../../src/auth/headers.js';
import { covers, formatScope, parseScope, parseScopes, type AccessEntry } from '../../src/auth/scope.js';
import type { AccessRule, Action } from '../../src/config/auth-schema.js';

const user = (name: string): Principal => ({ name });
const alice = user('alice');
const bob = user('bob');
const carol = user('carol');

function policy(rules: AccessRule[], groups: Record<string, string[]> = {}): AccessPolicy {
  return new AccessPolicy(rules, groups);
}

/** The actions `who` has on `repo`, sorted, for comparison. */
function on(p: AccessPolicy, who: Principal, repo: string): Action[] {
  return [...p.actionsOn(who, repo)].sort();
}

const sorted = (actions: string[]) => [...actions].sort();

describe('globToRegExp', () => {
  test('a name without wildcards matches only itself; regex characters are literal', () => {
    const re = globToRegExp('team/app.v1');
    assert.ok(re.test('team/app.v1'));
    assert.ok(!re.test('team/appxv1'), '. is a dot, not any character');
    assert.ok(!re.test('team/app.v12'), 'anchored at the end');
    assert.ok(!re.test('xteam/app.v1'), 'anchored at the start');
    assert.ok(globToRegExp('a-b_c').test('a-b_c'));
    assert.ok(!globToRegExp('a+b').test('aab'));
  });

  test('* matches within one path component', () => {
    const re = globToRegExp('team/*');
    assert.ok(re.test('team/app'));
    assert.ok(re.test('team/app-2.x'));
    assert.ok(!re.test('team/app/cache'), '* does not cross /');
    assert.ok(!re.test('team'));
    assert.ok(!re.test('other/app'));
    const partial = globToRegExp('team/app-*');
    assert.ok(partial.test('team/app-web'));
    assert.ok(!partial.test('team/app'));
    assert.ok(!partial.test('team/app-web/x'));
    const middle = globToRegExp('*/app');
    assert.ok(middle.test('team/app'));
    assert.ok(!middle.test('a/b/app'));
  });

  test('** matches across any number of path components', () => {
    const re = globToRegExp('team/**');
    assert.ok(re.test('team/app'));
    assert.ok(re.test('team/app/cache'));
    assert.ok(re.test('team/a/b/c/d'));
    assert.ok(!re.test('team'), 'team/** does not match team itself');
    assert.ok(!re.test('teams/app'));
    const all = globToRegExp('**');
    for (const name of ['a', 'a/b', 'library/ubuntu/x/y']) assert.ok(all.test(name), name);
    const inner = globToRegExp('**/cache');
    assert.ok(inner.test('team/app/cache'));
    assert.ok(inner.test('x/cache'));
    assert.ok(!inner.test('team/app/cache2'));
    const both = globToRegExp('team/**/v*');
    assert.ok(both.test('team/a/b/v1'));
    assert.ok(!both.test('team/a/b/v1/x'));
  });
});

describe('AccessPolicy: which rule decides', () => {
  test('1. a name without wildcards beats a glob, even one with as many literals written before it', () => {
    // team/app* has 8 literal characters like team/app, no **, and comes first:
    // only the exact-name rule can make bob win.
    const p = policy([
      { repository: 'team/app*', grants: { alice: ['pull'] } },
      { repository: 'team/app', grants: { bob: ['pull'] } },
    ]);
    assert.deepEqual(on(p, bob, 'team/app'), ['pull']);
    assert.deepEqual(on(p, alice, 'team/app'), []);
    // Where the exact name does not match, the glob decides.
    assert.deepEqual(on(p, alice, 'team/app2'), ['pull']);
    assert.deepEqual(on(p, bob, 'team/app2'), []);
    assert.equal(p.ruleFor('team/app')?.repository, 'team/app');
  });

  test('2. more literal characters beat fewer, even with more ** and written later', () => {
    // team/** (5 literals, one **) against */* (1 literal, no **), which is written first:
    // fewer ** or first-written would pick */*.
    const p = policy([
      { repository: '*/*', grants: { alice: ['pull'] } },
      { repository: 'team/**', grants: { bob: ['pull'] } },
    ]);
    assert.deepEqual(on(p, bob, 'team/app'), ['pull']);
    assert.deepEqual(on(p, alice, 'team/app'), []);
    assert.equal(p.ruleFor('team/app')?.repository, 'team/**');
    // team/app-* (9) beats team/* (5).
    const q = policy([
      { repository: 'team/*', grants: { alice: ['pull'] } },
      { repository: 'team/app-*', grants: { bob: ['pull'] } },
    ]);
    assert.deepEqual(on(q, bob, 'team/app-web'), ['pull']);
    assert.deepEqual(on(q, alice, 'team/app-web'), []);
    assert.deepEqual(on(q, alice, 'team/db'), ['pull']);
  });

  test('3. with equal literals, fewer ** wins, even written later', () => {
    const p = policy([
      { repository: 'team/**', grants: { alice: ['pull'] } },
      { repository: 'team/*', grants: { bob: ['pull'] } },
    ]);
    assert.deepEqual(on(p, bob, 'team/app'), ['pull']);
    assert.deepEqual(on(p, alice, 'team/app'), []);
    // One level deeper only team/** matches.
    assert.deepEqual(on(p, alice, 'team/app/cache'), ['pull']);
    assert.deepEqual(on(p, bob, 'team/app/cache'), []);
  });

  test('4. otherwise the rule written first wins', () => {
    // te*/app and team/*p: 6 literals each, no **, both match team/app.
    const first = policy([
      { repository: 'te*/app', grants: { alice: ['pull'] } },
      { repository: 'team/*p', grants: { bob: ['pull'] } },
    ]);
    assert.deepEqual(on(first, alice, 'team/app'), ['pull']);
    assert.deepEqual(on(first, bob, 'team/app'), []);
    const swapped = policy([
      { repository: 'team/*p', grants: { bob: ['pull'] } },
      { repository: 'te*/app', grants: { alice: ['pull'] } },
    ]);
    assert.deepEqual(on(swapped, bob, 'team/app'), ['pull']);
    assert.deepEqual(on(swapped, alice, 'team/app'), []);
  });

  test('the deciding rule alone: no fall-through to a broader rule', () => {
    const p = policy([
      { repository: '**', grants: { bob: ['pull', 'push', 'delete'], authenticated: ['pull'] } },
      { repository: 'team/**', grants: { alice: ['pull'] } },
    ]);
    assert.deepEqual(on(p, bob, 'team/app'), [], 'team/** decides and does not name bob');
    assert.deepEqual(on(p, carol, 'team/app'), [], 'nor authenticated');
    assert.deepEqual(on(p, alice, 'team/app'), ['pull'], 'alice gets only what team/** gives, not ** as well');
    assert.deepEqual(on(p, bob, 'other/app'), ['delete', 'pull', 'push']);
    assert.deepEqual(on(p, alice, 'other/app'), ['pull']);
  });

  test('a repository no rule matches allows nothing; an empty rule list denies everything', () => {
    const p = policy([{ repository: 'team/*', grants: { anonymous: ['pull'], alice: ['pull', 'push'] } }]);
    assert.deepEqual(on(p, alice, 'other/app'), []);
    assert.equal(p.ruleFor('other/app'), undefined);
    const none = policy([]);
    assert.deepEqual(on(none, alice, 'team/app'), []);
    assert.equal(none.mayListCatalog(alice), false);
  });
});

describe('AccessPolicy: principals', () => {
  test('the caller gets the union of every principal it is, within the deciding rule', () => {
    const p = policy(
      [{ repository: 'team/*', grants: { anonymous: ['pull'], authenticated: ['push'], alice: ['push'], 'group:ops': ['delete'] } }],
      { ops: ['carol'] },
    );
    assert.deepEqual(on(p, ANONYMOUS, 'team/app'), ['pull']);
    assert.deepEqual(on(p, bob, 'team/app'), ['pull', 'push']);
    assert.deepEqual(on(p, alice, 'team/app'), ['pull', 'push']);
    assert.deepEqual(on(p, carol, 'team/app'), ['delete', 'pull', 'push']);
  });

  test('anonymous applies to logged-in callers too; authenticated does not apply to anonymous ones', () => {
    const p = policy([
      { repository: 'public/**', grants: { anonymous: ['pull'] } },
      { repository: 'team/**', grants: { authenticated: ['pull'] } },
    ]);
    assert.ok(p.can(alice, 'public/x', 'pull'));
    assert.ok(p.can(ANONYMOUS, 'public/x', 'pull'));
    assert.ok(!p.can(alice, 'public/x', 'push'));
    assert.ok(p.can(alice, 'team/x', 'pull'));
    assert.ok(!p.can(ANONYMOUS, 'team/x', 'pull'));
  });

  test('groups: members get the group\'s grants, others do not; a user may be in several groups', () => {
    const p = policy(
      [
        { repository: 'team/*', grants: { 'group:devs': ['pull', 'push'], 'group:ops': ['delete'] } },
        { repository: '**', grants: { 'group:ops': ['pull'] } },
      ],
      { devs: ['alice', 'carol'], ops: ['carol'] },
    );
    assert.deepEqual(on(p, alice, 'team/app'), ['pull', 'push']);
    assert.deepEqual(on(p, carol, 'team/app'), ['delete', 'pull', 'push']);
    assert.deepEqual(on(p, bob, 'team/app'), []);
    assert.deepEqual(on(p, carol, 'other'), ['pull']);
    assert.deepEqual(on(p, alice, 'other'), []);
    // A user named like a group is not its member.
    const q = policy([{ repository: '**', grants: { 'group:devs': ['pull'] } }], { devs: ['alice'] });
    assert.deepEqual(on(q, user('devs'), 'x'), []);
    assert.deepEqual(on(q, alice, 'x'), ['pull']);
  });

  test('the answer for one caller does not leak to another (per-caller memo)', () => {
    const p = policy([{ repository: '**', grants: { alice: ['pull', 'push'], anonymous: [] } }]);
    assert.deepEqual(on(p, alice, 'x'), ['pull', 'push']);
    assert.deepEqual(on(p, bob, 'x'), []);
    assert.deepEqual(on(p, ANONYMOUS, 'x'), []);
    assert.deepEqual(on(p, alice, 'x'), ['pull', 'push']);
  });
});

describe('AccessPolicy: catalog', () => {
  test('any rule granting catalog lets the caller list; catalog is never a repository action', () => {
    const p = policy([
      { repository: 'secret/**', grants: { alice: ['catalog'] } },
      { repository: '**', grants: { authenticated: ['pull'] } },
    ]);
    assert.equal(p.mayListCatalog(alice), true, 'from a rule that decides nothing alice can pull');
    assert.equal(p.mayListCatalog(bob), false);
    assert.equal(p.mayListCatalog(ANONYMOUS), false);
    assert.deepEqual(on(p, alice, 'secret/x'), [], 'catalog is not a right on secret/x');
    assert.equal(p.can(alice, 'secret/x', 'catalog'), false);
  });

  test('catalog through anonymous, authenticated and groups', () => {
    assert.equal(policy([{ repository: '**', grants: { anonymous: ['catalog'] } }]).mayListCatalog(ANONYMOUS), true);
    assert.equal(policy([{ repository: '**', grants: { anonymous: ['catalog'] } }]).mayListCatalog(bob), true);
    assert.equal(policy([{ repository: '**', grants: { authenticated: ['catalog'] } }]).mayListCatalog(ANONYMOUS), false);
    assert.equal(policy([{ repository: '**', grants: { authenticated: ['catalog'] } }]).mayListCatalog(bob), true);
    const g = policy([{ repository: 'x', grants: { 'group:admins': ['catalog'] } }], { admins: ['carol'] });
    assert.equal(g.mayListCatalog(carol), true);
    assert.equal(g.mayListCatalog(alice), false);
  });
});

describe('AccessPolicy: admin', () => {
  test('admin counts only from a ** rule, is never a repository action, and no default grants it', () => {
    const p = policy([
      { repository: 'team/**', grants: { alice: ['pull', 'admin'] } },
      { repository: '**', grants: { bob: ['admin'], authenticated: ['pull'] } },
    ]);
    assert.equal(p.mayAdminister(alice), false, 'a team rule cannot make an administrator');
    assert.equal(p.mayAdminister(bob), true);
    assert.equal(p.mayAdminister(ANONYMOUS), false);
    assert.equal(p.can(bob, 'x', 'admin' as Action), false, 'admin is not a repository action');
    assert.deepEqual(p.grant(bob, [{ type: 'registry', name: 'admin', actions: ['*'] }]), [{ type: 'registry', name: 'admin', actions: ['*'] }]);
    assert.deepEqual(p.grant(alice, [{ type: 'registry', name: 'admin', actions: ['*'] }]), []);
    assert.equal(p.mayUseRegistry(bob, 'catalog'), false, 'admin does not imply catalog');
  });
});

describe('AccessPolicy: metrics', () => {
  test('metrics counts only from a ** rule, is never a repository action, and goes into tokens as registry:metrics:*', () => {
    const p = policy([
      { repository: 'team/**', grants: { alice: ['pull', 'metrics'] } },
      { repository: '**', grants: { bob: ['metrics'], authenticated: ['pull'] } },
    ]);
    assert.equal(p.mayUseRegistry(alice, 'metrics'), false, 'a team rule cannot open the registry-wide figures');
    assert.equal(p.mayUseRegistry(bob, 'metrics'), true);
    assert.equal(p.mayUseRegistry(bob, 'admin'), false, 'metrics does not imply admin');
    assert.equal(p.can(bob, 'x', 'metrics' as Action), false, 'metrics is not a repository action');
    assert.deepEqual(p.grant(bob, [{ type: 'registry', name: 'metrics', actions: ['*'] }]), [{ type: 'registry', name: 'metrics', actions: ['*'] }]);
    assert.deepEqual(p.grant(alice, [{ type: 'registry', name: 'metrics', actions: ['*'] }]), []);
  });
});

describe('AccessPolicy.grant: what a token may carry', () => {
  const p = policy(
    [
      { repository: 'team/*', grants: { alice: ['pull', 'push'], bob: ['pull'] } },
      { repository: '**', grants: { alice: ['catalog'] } },
    ],
    {},
  );

  test('each requested entry is intersected with what the rules allow', () => {
    const got = p.grant(alice, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push', 'delete'] }]);
    assert.deepEqual(got, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
    const bobs = p.grant(bob, [{ type: 'repository', name: 'team/app', actions: ['push', 'pull'] }]);
    assert.deepEqual(bobs, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    const unknown = p.grant(alice, [{ type: 'repository', name: 'team/app', actions: ['pull', 'frobnicate'] }]);
    assert.deepEqual(unknown, [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
  });

  test('* asks for every action the rules allow, and never for catalog', () => {
    const [entry] = p.grant(alice, [{ type: 'repository', name: 'team/app', actions: ['*'] }]);
    assert.ok(entry);
    assert.deepEqual(sorted(entry.actions), ['pull', 'push']);
    const [bobs] = p.grant(bob, [{ type: 'repository', name: 'team/app', actions: ['*'] }]);
    assert.deepEqual(bobs?.actions, ['pull']);
    // alice has catalog from **, but on other/x it gives her no repository action.
    assert.deepEqual(p.grant(alice, [{ type: 'repository', name: 'other/x', actions: ['*'] }]), []);
  });

  test('registry:catalog:* is granted when the rules give catalog; other catalog asks are not', () => {
    assert.deepEqual(p.grant(alice, [{ type: 'registry', name: 'catalog', actions: ['*'] }]), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    assert.deepEqual(p.grant(bob, [{ type: 'registry', name: 'catalog', actions: ['*'] }]), []);
    assert.deepEqual(p.grant(alice, [{ type: 'registry', name: 'catalog', actions: ['pull'] }]), []);
    assert.deepEqual(p.grant(alice, [{ type: 'registry', name: 'other', actions: ['*'] }]), []);
  });

  test('entries with nothing granted are dropped; the others keep their order', () => {
    const got = p.grant(bob, [
      { type: 'repository', name: 'other/x', actions: ['pull'] },
      { type: 'repository', name: 'team/b', actions: ['pull'] },
      { type: 'repository', name: 'team/a', actions: ['push'] },
      { type: 'plugin', name: 'team/a', actions: ['pull'] },
      { type: 'repository', name: 'team/a', actions: ['pull'] },
    ]);
    assert.deepEqual(got, [
      { type: 'repository', name: 'team/b', actions: ['pull'] },
      { type: 'repository', name: 'team/a', actions: ['pull'] },
    ]);
    assert.deepEqual(p.grant(ANONYMOUS, [{ type: 'repository', name: 'team/a', actions: ['*'] }]), []);
  });
});

describe('the worked example of docs/auth.md', () => {
  const p = policy(
    [
      { repository: 'public/**', grants: { anonymous: ['pull'], authenticated: ['pull', 'push'] } },
      { repository: 'team/*', grants: { 'group:devs': ['pull', 'push', 'delete'], authenticated: ['pull'] } },
      { repository: 'team/secret', grants: { alice: ['pull', 'push', 'delete'] } },
      { repository: '**', grants: { admin: ['pull', 'push', 'delete', 'catalog'] } },
    ],
    { devs: ['alice', 'carol'] },
  );
  const callers: Record<string, Principal> = { anonymous: ANONYMOUS, bob, carol, alice, admin: user('admin') };
  const all = ['delete', 'pull', 'push'];
  const table: Array<[string, string, Record<string, string[]>]> = [
    ['public/tools/x', 'public/**', { anonymous: ['pull'], bob: ['pull', 'push'], carol: ['pull', 'push'], alice: ['pull', 'push'], admin: ['pull', 'push'] }],
    ['team/app', 'team/*', { anonymous: [], bob: ['pull'], carol: all, alice: all, admin: ['pull'] }],
    ['team/secret', 'team/secret', { anonymous: [], bob: [], carol: [], alice: all, admin: [] }],
    ['team/app/cache', '**', { anonymous: [], bob: [], carol: [], alice: [], admin: all }],
    ['other/thing', '**', { anonymous: [], bob: [], carol: [], alice: [], admin: all }],
  ];
  for (const [repo, rule, rights] of table) {
    test(`${repo}: decided by ${rule}`, () => {
      assert.equal(p.ruleFor(repo)?.repository, rule);
      for (const [name, who] of Object.entries(callers)) assert.deepEqual(on(p, who, repo), sorted(rights[name]!), `${name} on ${repo}`);
    });
  }
  test('only admin may list the catalog, and its listing leaves out team/secret', () => {
    for (const [name, who] of Object.entries(callers)) assert.equal(p.mayListCatalog(who), name === 'admin', name);
    const visible = table.map(([repo]) => repo).filter((repo) => p.can(user('admin'), repo, 'pull'));
    assert.deepEqual(visible, ['public/tools/x', 'team/app', 'team/app/cache', 'other/thing']);
  });
});

describe('scopes', () => {
  test('parseScope reads type:name:actions', () => {
    assert.deepEqual(parseScope('repository:team/app:pull,push'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    assert.deepEqual(parseScope('repository:app:pull'), { type: 'repository', name: 'app', actions: ['pull'] });
  });

  test('parseScope: names may hold colons (a port), a resource class is dropped, actions are deduplicated and trimmed', () => {
    assert.deepEqual(parseScope('repository:localhost:5000/team/app:pull'), { type: 'repository', name: 'localhost:5000/team/app', actions: ['pull'] });
    assert.deepEqual(parseScope('repository(plugin):team/app:pull'), { type: 'repository', name: 'team/app', actions: ['pull'] });
    assert.deepEqual(parseScope('repository:a:pull,push,pull'), { type: 'repository', name: 'a', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('repository:a:pull,,push,'), { type: 'repository', name: 'a', actions: ['pull', 'push'] });
  });

  test('parseScope refuses anything else', () => {
    for (const bad of ['', 'repository', 'repository:a', ':a:pull', 'repository::pull', 'repository:a:', 'repository:a:,', 'Repository:a:pull', 'repo1:a:pull', 'repo sitory:a:pull']) {
      assert.equal(parseScope(bad), undefined, JSON.stringify(bad));
    }
  });

  test('parseScopes: repeated parameters, several scopes per value, junk skipped', () => {
    const got = parseScopes(['repository:a:pull repository:b:push', '', 'registry:catalog:*', 'junk', 'repository:c:pull  repository:d:delete']);
    assert.deepEqual(
      got.map((e) => formatScope(e)),
      ['repository:a:pull', 'repository:b:push', 'registry:catalog:*', 'repository:c:pull', 'repository:d:delete'],
    );
    assert.deepEqual(parseScopes([]), []);
  });

  test('formatScope writes what parseScope reads', () => {
    for (const text of ['repository:team/app:pull,push', 'registry:catalog:*', 'repository:localhost:5000/a:delete']) {
      assert.equal(formatScope(parseScope(text)!), text);
    }
    assert.equal(formatScope({ type: 'repository', name: 'x', actions: ['pull', 'push'] }), 'repository:x:pull,push');
  });

  test('covers: every needed action must be granted on that exact resource', () => {
    const granted: AccessEntry[] = [
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'repository', name: 'team/app', actions: ['push'] },
      { type: 'repository', name: 'team/db', actions: ['*'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ];
    assert.ok(covers(granted, { type: 'repository', name: 'team/app', actions: ['pull'] }));
    assert.ok(covers(granted, { type: 'repository', name: 'team/app', actions: ['pull', 'push'] }), 'actions may come from separate entries');
    assert.ok(!covers(granted, { type: 'repository', name: 'team/app', actions: ['pull', 'delete'] }));
    assert.ok(!covers(granted, { type: 'repository', name: 'team/ap', actions: ['pull'] }), 'names are compared exactly');
    assert.ok(!covers(granted, { type: 'repository', name: 'team/*', actions: ['pull'] }), 'no globs in tokens');
    assert.ok(covers(granted, { type: 'repository', name: 'team/db', actions: ['pull', 'push', 'delete'] }), '* grants every action');
    assert.ok(covers(granted, { type: 'registry', name: 'catalog', actions: ['*'] }));
    assert.ok(!covers([{ type: 'repository', name: 'catalog', actions: ['*'] }], { type: 'registry', name: 'catalog', actions: ['*'] }), 'types are compared');
    assert.ok(!covers([], { type: 'repository', name: 'a', actions: ['pull'] }));
  });
});

describe('Authorization header', () => {
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

  test('no header, or an empty one, is no credentials', () => {
    assert.deepEqual(parseAuthorization(undefined), { kind: 'none' });
    assert.deepEqual(parseAuthorization(''), { kind: 'none' });
    assert.deepEqual(parseAuthorization('   '), { kind: 'none' });
  });

  test('Basic: user and password; the password may hold colons; the scheme is case-insensitive', () => {
    assert.deepEqual(parseAuthorization(`Basic ${b64('alice:s3cret')}`), { kind: 'basic', username: 'alice', password: 's3cret' });
    assert.deepEqual(parseAuthorization(`basic ${b64('alice:a:b:c')}`), { kind: 'basic', username: 'alice', password: 'a:b:c' });
    assert.deepEqual(parseAuthorization(`BASIC ${b64('bob:')}`), { kind: 'basic', username: 'bob', password: '' });
    assert.deepEqual(parseAuthorization(`Basic ${b64('zoë:pässword')}`), { kind: 'basic', username: 'zoë', password: 'pässword' });
  });

  test('Basic with an empty user and password (as some clients send) is anonymous', () => {
    assert.deepEqual(parseAuthorization(`Basic ${b64(':')}`), { kind: 'none' });
    // But a password without a user is a login attempt, not anonymous.
    assert.deepEqual(parseAuthorization(`Basic ${b64(':pw')}`), { kind: 'basic', username: '', password: 'pw' });
  });

  test('Bearer: the token as sent', () => {
    assert.deepEqual(parseAuthorization('Bearer eyJ.abc.def'), { kind: 'bearer', token: 'eyJ.abc.def' });
    assert.deepEqual(parseAuthorization('bearer xyz'), { kind: 'bearer', token: 'xyz' });
  });

  test('malformed headers and other schemes', () => {
    assert.deepEqual(parseAuthorization('Basic'), { kind: 'malformed', scheme: '' });
    assert.deepEqual(parseAuthorization('Basic a b'), { kind: 'malformed', scheme: '' });
    assert.deepEqual(parseAuthorization('Basic !!!!'), { kind: 'malformed', scheme: 'basic' });
    // Node's base64 decoder skips junk ("alice:pw" would come out of these): the value must be strict base64.
    for (const sloppy of ['YWxp!Y2U6cHc=', 'YWxpY2U6cHc.', 'YWxpY2U6cHc=YQ==']) {
      assert.deepEqual(parseAuthorization(`Basic ${sloppy}`), { kind: 'malformed', scheme: 'basic' }, sloppy);
    }
    assert.deepEqual(parseAuthorization(`Basic ${b64('no-colon')}`), { kind: 'malformed', scheme: 'basic' });
    assert.deepEqual(parseAuthorization('Digest username="alice"'), { kind: 'malformed', scheme: 'digest' });
    assert.deepEqual(parseAuthorization('Digest username="alice", realm="r"'), { kind: 'malformed', scheme: '' });
    assert.deepEqual(parseAuthorization('Negotiate abc'), { kind: 'malformed', scheme: 'negotiate' });
    assert.deepEqual(parseAuthorization('Token abc'), { kind: 'malformed', scheme: 'token' });
  });
});

describe('challenges', () => {
  test('Basic names the realm, quoted', () => {
    assert.equal(basicChallenge('unireg'), 'Basic realm="unireg"');
    assert.equal(basicChallenge('my "reg"'), 'Basic realm="my \\"reg\\""');
  });

  test('Bearer: realm, service, then scope and error only when given', () => {
    assert.equal(bearerChallenge({ realm: 'https://r.example/auth/token', service: 'unireg' }), 'Bearer realm="https://r.example/auth/token",service="unireg"');
    assert.equal(
      bearerChallenge({ realm: 'https://r/auth/token', service: 's', scope: 'repository:team/app:pull,push', error: 'insufficient_scope' }),
      'Bearer realm="https://r/auth/token",service="s",scope="repository:team/app:pull,push",error="insufficient_scope"',
    );
    assert.equal(bearerChallenge({ realm: 'r', service: 's', error: 'invalid_token' }), 'Bearer realm="r",service="s",error="invalid_token"');
  });

  test('quotes and backslashes in values are escaped', () => {
    assert.equal(bearerChallenge({ realm: 'a"b\\c', service: '"s"', scope: 'x"y' }), 'Bearer realm="a\\"b\\\\c",service="\\"s\\"",scope="x\\"y"');
  });
});
