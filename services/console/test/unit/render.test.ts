import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secrets, escape, highlightSql, html, parseCookies, serializeCookie } from '@airlock/console';

describe('console rendering and cookies', () => {
  it('escapes every interpolated value and keeps trusted markup', () => {
    const evil = `<script>alert("x")</script>'&\``;
    assert.equal(html`<p title="${evil}">${evil}</p>`.text, '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;&#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;&#96;</p>');
    assert.equal(html`<ul>${['a<', 'b'].map((x) => html`<li>${x}</li>`)}</ul>`.text, '<ul><li>a&lt;</li><li>b</li></ul>');
    assert.equal(escape(null), 'null');
  });

  const cases: Array<[string, string]> = [
    ['SELECT 1', '<code class="sql"><span class="k">SELECT</span> <span class="n">1</span></code>'],
    ["delete from t where x = 'a''b'", `<code class="sql"><span class="k">delete</span> <span class="k">from</span> t <span class="k">where</span> x = <span class="s">&#39;a&#39;&#39;b&#39;</span></code>`],
    ['SELECT "<b>" -- </code><script>', '<code class="sql"><span class="k">SELECT</span> <span class="i">&quot;&lt;b&gt;&quot;</span> <span class="c">-- &lt;/code&gt;&lt;script&gt;</span></code>'],
    ["SELECT '</span><img src=x onerror=alert(1)>", '<code class="sql"><span class="k">SELECT</span> <span class="s">&#39;&lt;/span&gt;&lt;img src=x onerror=alert(1)&gt;</span></code>'],
    ['/* c */ x<1', '<code class="sql"><span class="c">/* c */</span> x&lt;<span class="n">1</span></code>'],
  ];
  for (const [sql, expected] of cases) {
    it(`highlights ${JSON.stringify(sql)} safely`, () => {
      assert.equal(highlightSql(sql).text, expected);
    });
  }

  it('signs and seals with keys derived from the session secret, and refuses tampering', () => {
    const a = new Secrets('x'.repeat(32));
    const b = new Secrets('y'.repeat(32));
    const signed = a.sign('session-id');
    assert.equal(a.unsign(signed), 'session-id');
    assert.equal(b.unsign(signed), undefined);
    assert.equal(a.unsign(signed.slice(0, -1) + (signed.endsWith('A') ? 'B' : 'A')), undefined);
    assert.equal(a.unsign('no-signature'), undefined);
    const sealed = a.seal('id-token');
    assert.equal(sealed.includes('id-token'), false);
    assert.equal(a.unseal(sealed), 'id-token');
    assert.equal(b.unseal(sealed), undefined);
    assert.throws(() => new Secrets('short'), /at least 32 characters/);
  });

  it('writes HttpOnly SameSite cookies, Secure over https', () => {
    assert.equal(serializeCookie('s', 'a b', { maxAgeSeconds: 60, secure: false }), 's=a%20b; Path=/; Max-Age=60; HttpOnly; SameSite=Lax');
    assert.equal(serializeCookie('s', 'v', { maxAgeSeconds: 1.9, secure: true, path: '/auth' }), 's=v; Path=/auth; Max-Age=1; HttpOnly; SameSite=Lax; Secure');
    assert.deepEqual([...parseCookies('a=1; b=x%20y; a=2; junk')], [['a', '1'], ['b', 'x y']]);
  });
});
