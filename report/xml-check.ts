/**
 * A small XML well-formedness checker and tree builder, enough to read back
 * the SVG files the report writes without a parser dependency. It accepts
 * elements, attributes, text, comments, CDATA, processing instructions and
 * the five predefined entities plus character references. It rejects a
 * DOCTYPE (no SVG we write has one) and accepts ASCII names only.
 */

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside the element, entities decoded, children's text left out. */
  text: string;
}

export class XmlSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at offset ${offset}`);
    this.name = 'XmlSyntaxError';
  }
}

const NAME = /[A-Za-z_:][A-Za-z0-9_:.-]*/y;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Parses a whole document and returns its root element; throws XmlSyntaxError on the first fault. */
export function parseXml(source: string): XmlElement {
  return new XmlParser(source).document();
}

/** Lists every element in the tree below and including `root`, depth first. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}

class XmlParser {
  #at = 0;

  constructor(private readonly source: string) {
    if (source.startsWith('\uFEFF')) this.#at = 1;
  }

  document(): XmlElement {
    this.#miscellany();
    if (this.#startsWith('<!DOCTYPE')) this.#fail('DOCTYPE is not supported');
    if (!this.#startsWith('<')) this.#fail('expected the root element');
    const root = this.#element();
    this.#miscellany();
    if (this.#at < this.source.length) this.#fail('content after the root element');
    return root;
  }

  /** Skips whitespace, comments and processing instructions outside the root element. */
  #miscellany(): void {
    for (;;) {
      this.#skipWhitespace();
      if (this.#startsWith('<!--')) this.#comment();
      else if (this.#startsWith('<?')) this.#processingInstruction();
      else return;
    }
  }

  #element(): XmlElement {
    this.#expect('<');
    const name = this.#name();
    const element: XmlElement = { name, attributes: {}, children: [], text: '' };
    for (;;) {
      const spaced = this.#skipWhitespace();
      if (this.#startsWith('/>')) {
        this.#at += 2;
        return element;
      }
      if (this.#startsWith('>')) {
        this.#at += 1;
        break;
      }
      if (!spaced) this.#fail(`expected whitespace, ">" or "/>" in <${name}>`);
      this.#attribute(element);
    }
    this.#content(element);
    return element;
  }

  #attribute(element: XmlElement): void {
    const name = this.#name();
    if (Object.prototype.hasOwnProperty.call(element.attributes, name)) this.#fail(`duplicate attribute ${name} in <${element.name}>`);
    this.#skipWhitespace();
    this.#expect('=');
    this.#skipWhitespace();
    const quote = this.source[this.#at];
    if (quote !== '"' && quote !== "'") this.#fail(`expected a quoted value for attribute ${name}`);
    const end = this.source.indexOf(quote, this.#at + 1);
    if (end < 0) this.#fail(`unterminated value of attribute ${name}`);
    const raw = this.source.slice(this.#at + 1, end);
    if (raw.includes('<')) this.#fail(`"<" in the value of attribute ${name}`);
    element.attributes[name] = this.#decode(raw, this.#at + 1);
    this.#at = end + 1;
  }

  #content(element: XmlElement): void {
    for (;;) {
      if (this.#at >= this.source.length) this.#fail(`<${element.name}> is not closed`);
      if (this.#startsWith('</')) {
        this.#at += 2;
        const name = this.#name();
        if (name !== element.name) this.#fail(`</${name}> closes <${element.name}>`);
        this.#skipWhitespace();
        this.#expect('>');
        return;
      }
      if (this.#startsWith('<!--')) this.#comment();
      else if (this.#startsWith('<![CDATA[')) element.text += this.#cdata();
      else if (this.#startsWith('<?')) this.#processingInstruction();
      else if (this.#startsWith('<')) element.children.push(this.#element());
      else element.text += this.#text();
    }
  }

  #text(): string {
    const start = this.#at;
    let end = this.source.indexOf('<', start);
    if (end < 0) end = this.source.length;
    const raw = this.source.slice(start, end);
    if (raw.includes(']]>')) this.#fail('"]]>" in text', start + raw.indexOf(']]>'));
    this.#at = end;
    return this.#decode(raw, start);
  }

  #comment(): void {
    const end = this.source.indexOf('-->', this.#at + 4);
    if (end < 0) this.#fail('unterminated comment');
    if (this.source.slice(this.#at + 4, end).includes('--')) this.#fail('"--" inside a comment');
    this.#at = end + 3;
  }

  #cdata(): string {
    const start = this.#at + '<![CDATA['.length;
    const end = this.source.indexOf(']]>', start);
    if (end < 0) this.#fail('unterminated CDATA section');
    this.#at = end + 3;
    return this.source.slice(start, end);
  }

  #processingInstruction(): void {
    this.#at += 2;
    this.#name();
    const end = this.source.indexOf('?>', this.#at);
    if (end < 0) this.#fail('unterminated processing instruction');
    this.#at = end + 2;
  }

  /** Decodes entity and character references; `offset` places errors in the source. */
  #decode(raw: string, offset: number): string {
    return raw.replace(/&([^;&]*)(;?)/g, (whole, body: string, semicolon: string, index: number) => {
      const at = offset + index;
      if (!semicolon) this.#fail('"&" that starts no reference', at);
      if (body in PREDEFINED) return PREDEFINED[body];
      const match = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(body);
      if (!match) this.#fail(`unknown entity &${body};`, at);
      const code = match[1] !== undefined ? parseInt(match[1], 16) : parseInt(match[2], 10);
      const allowed = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
      if (!allowed) this.#fail(`character reference &${body}; is not an XML character`, at);
      return String.fromCodePoint(code);
    });
  }

  #name(): string {
    NAME.lastIndex = this.#at;
    const match = NAME.exec(this.source);
    if (!match) this.#fail('expected a name');
    this.#at += match[0].length;
    return match[0];
  }

  /** Skips whitespace; returns whether there was any. */
  #skipWhitespace(): boolean {
    const start = this.#at;
    while (this.#at < this.source.length && ' \t\r\n'.includes(this.source[this.#at])) this.#at++;
    return this.#at > start;
  }

  #startsWith(text: string): boolean {
    return this.source.startsWith(text, this.#at);
  }

  #expect(text: string): void {
    if (!this.#startsWith(text)) this.#fail(`expected "${text}"`);
    this.#at += text.length;
  }

  #fail(message: string, offset = this.#at): never {
    throw new XmlSyntaxError(message, offset);
  }
}
