// The public API's documentation: every function and class that a package entry (package.json
// "exports") offers carries a JSDoc @example, as the brief asks (sharp's style). Read from the
// built declarations with TypeScript's compiler API, following re-exports to where each value
// is declared; type-only exports are not values and are left out.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(ROOT + 'package.json', 'utf8'));
const entries = Object.entries(pkg.exports)
  .filter(([, v]) => typeof v === 'object' && v.types)
  .map(([name, v]) => ({ name, types: ROOT + v.types.replace(/^\.\//, '') }));

/** Names of the callable values an entry exports whose declaration has no @example. */
function missingExamples(program, file) {
  const checker = program.getTypeChecker();
  const mod = checker.getSymbolAtLocation(program.getSourceFile(file));
  const missing = [];
  for (const sym of checker.getExportsOfModule(mod)) {
    const spec = sym.declarations?.[0];
    if (spec && (spec.isTypeOnly || spec.parent?.parent?.isTypeOnly)) continue; // export type { ... }
    const real = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
    if (!(real.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class | ts.SymbolFlags.Variable))) continue;
    const decl = real.declarations?.[0];
    if (!decl) continue;
    if (!(real.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class))) {
      const type = checker.getTypeOfSymbolAtLocation(real, decl);
      if (!type.getCallSignatures().length && !type.getConstructSignatures().length) continue; // a constant
    }
    if (!real.getJsDocTags(checker).some((t) => t.name === 'example')) missing.push(sym.name);
  }
  return missing;
}

test('the package has entries to check (package.json exports with types)', () => {
  assert.ok(entries.length >= 10, JSON.stringify(entries.map((e) => e.name)));
});

const program = ts.createProgram(entries.map((e) => e.types), { noEmit: true, skipLibCheck: true });
for (const { name, types } of entries) {
  test(`every function and class exported by '${name}' has an @example in its JSDoc`, () => {
    const missing = missingExamples(program, types);
    assert.equal(missing, [], `${name}: no @example on ${missing.join(', ')}`);
  });
}

test('the check sees a missing @example (a declaration without one)', () => {
  const file = '/virtual/entry.d.ts';
  const text = '/** Documented.\n * @example\n * a()\n */\nexport declare function a(): void;\n/** Not. */\nexport declare function b(): void;\nexport declare const c = 3;\nexport declare class D {}\n';
  const host = ts.createCompilerHost({ noEmit: true });
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang) => (f === file ? ts.createSourceFile(f, text, lang, true) : getSourceFile(f, lang));
  host.fileExists = ((exists) => (f) => f === file || exists(f))(host.fileExists.bind(host));
  const p = ts.createProgram([file], { noEmit: true }, host);
  assert.equal(missingExamples(p, file), ['b', 'D']);
});

test.run();
