import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allElements, parseXml, XmlSyntaxError } from '../report/xml-check';

describe('parseXml', () => {
  it('reads elements, attributes and text', () => {
    const root = parseXml('<?xml version="1.0"?>\n<!-- c --><svg a="1" b=\'x &amp; y\'><g><text>5 &lt; 6&#x21;</text></g><line/></svg>\n');
    assert.equal(root.name, 'svg');
    assert.deepEqual(root.attributes, { a: '1', b: 'x & y' });
    assert.deepEqual(root.children.map((c) => c.name), ['g', 'line']);
    assert.equal(root.children[0].children[0].text, '5 < 6!');
    assert.deepEqual(allElements(root).map((e) => e.name), ['svg', 'g', 'text', 'line']);
  });

  it('keeps CDATA as text', () => {
    assert.equal(parseXml('<a><![CDATA[<b>&]]></a>').text, '<b>&');
  });

  const malformed: Array<[string, string]> = [
    ['<a><b></a>', 'wrong closing tag'],
    ['<a>', 'unclosed root'],
    ['<a/><b/>', 'two roots'],
    ['<a x="1" x="2"/>', 'duplicate attribute'],
    ['<a x=1/>', 'unquoted attribute'],
    ['<a x="1"y="2"/>', 'attributes without whitespace'],
    ['<a x="<"/>', '"<" in an attribute'],
    ['<a>&nbsp;</a>', 'unknown entity'],
    ['<a>R&D</a>', 'bare ampersand'],
    ['<a>&#0;</a>', 'character reference to NUL'],
    ['<a><!-- x -- y --></a>', 'double hyphen in a comment'],
    ['<!DOCTYPE a><a/>', 'DOCTYPE'],
    ['text<a/>', 'text before the root'],
    ['', 'empty document'],
  ];
  for (const [source, label] of malformed) {
    it(`rejects ${label}`, () => {
      assert.throws(() => parseXml(source), XmlSyntaxError);
    });
  }
});
