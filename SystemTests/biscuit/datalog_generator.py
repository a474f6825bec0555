"""A seeded generator of random Biscuit Datalog for the differential test: token blocks (facts,
rules, checks) and authorizers (facts, rules, checks, policies) over a few typed predicates.

Typing keeps the outcome deterministic in the reference. The reference iterates facts in hash
order, so a query where some variable bindings fail with an error and others succeed could give
either outcome there (digest §5.5). Expressions over variables are therefore well typed and
cannot overflow (small integers, division by non-zero constants only); the expressions that do
fail ("error probes": division by zero, overflow, a type error) use constants only, so they fail
for every binding or for none.

Everything printed is parenthesised where precedence would matter, and `!` always takes a
parenthesised operand (the reference parses `!a + b` as `!(a + b)`: digest §10.3).
"""

import random

STRINGS = ["a", "b", "ab", "ba", "abc", "read", "write", "file1", "file2", "x_y", "é", "ée", ""]
DATES = [
    "2020-01-01T00:00:00Z", "2023-06-15T12:30:00Z", "2024-02-29T23:59:59Z", "2025-01-01T00:00:00Z",
    "2030-12-31T00:00:00Z",
]
BYTES = ["hex:00", "hex:0a0b", "hex:ff", "hex:deadbeef"]

#: Base predicates and their argument types (facts of blocks and authorizers).
PREDICATES = {
    "num": ["int"],
    "name": ["str"],
    "when": ["date"],
    "tags": ["strset"],
    "nums": ["intset"],
    "pair": ["int", "str"],
    "flag": ["bool"],
    "blob": ["bytes"],
    "time": ["date"],
}
#: Predicates rules derive.
DERIVED = {
    "d_int": ["int"],
    "d_str": ["str"],
    "d_pair": ["int", "str"],
}
ALL_PREDICATES = {**PREDICATES, **DERIVED}

ELEMENT = {"strset": "str", "intset": "int"}


class Generator:
    def __init__(self, seed):
        self.random = random.Random(seed)

    # -- constants -------------------------------------------------------------------------

    def chance(self, probability):
        return self.random.random() < probability

    def pick(self, items):
        return self.random.choice(items)

    def integer(self):
        return self.random.randint(-20, 20)

    def string(self):
        return '"' + self.pick(STRINGS) + '"'

    def constant(self, kind):
        if kind == "int":
            return str(self.integer())
        if kind == "str":
            return self.string()
        if kind == "date":
            return self.pick(DATES)
        if kind == "bool":
            return self.pick(["true", "false"])
        if kind == "bytes":
            return self.pick(BYTES)
        if kind in ELEMENT:
            count = self.random.randint(0, 3)
            if count == 0:
                return "{,}"
            element = ELEMENT[kind]
            return "{" + ", ".join(self.constant(element) for _ in range(count)) + "}"
        raise ValueError(kind)

    # -- facts -----------------------------------------------------------------------------

    def fact(self):
        name = self.pick(list(PREDICATES))
        return f"{name}({', '.join(self.constant(kind) for kind in PREDICATES[name])})"

    # -- bodies ----------------------------------------------------------------------------

    def body(self, predicates, minimum=1, maximum=2, scope=None):
        """Body predicates over `predicates`; returns (texts, variables: name -> type)."""
        variables = {}
        texts = []
        for _ in range(self.random.randint(minimum, maximum)):
            name = self.pick(predicates)
            terms = []
            for kind in ALL_PREDICATES[name]:
                same = [variable for variable, known in variables.items() if known == kind]
                if same and self.chance(0.3):
                    terms.append("$" + self.pick(same))
                elif self.chance(0.15):
                    terms.append(self.constant(kind))
                else:
                    variable = f"v{len(variables)}"
                    variables[variable] = kind
                    terms.append("$" + variable)
            texts.append(f"{name}({', '.join(terms)})")
        return texts, variables

    # -- expressions -----------------------------------------------------------------------

    def operand(self, kind, variables, depth):
        """An expression of `kind`, parenthesised when it is not atomic."""
        text, atomic = self.typed(kind, variables, depth)
        return text if atomic else f"({text})"

    def typed(self, kind, variables, depth):
        """(text, atomic): an expression of type `kind` over `variables`."""
        candidates = [name for name, known in variables.items() if known == kind]
        if depth <= 0 or self.chance(0.35):
            if candidates and self.chance(0.7):
                return "$" + self.pick(candidates), True
            return self.constant(kind), True
        if kind == "bool":
            return self.boolean(variables, depth), False
        if kind == "int":
            choice = self.random.randint(0, 5)
            if choice == 0:
                return f"{self.operand('str', variables, depth - 1)}.length()", True
            if choice == 1:
                return f"{self.operand(self.pick(['strset', 'intset']), variables, depth - 1)}.length()", True
            if choice == 2:
                return f"{self.operand('int', variables, depth - 1)} / {self.pick(['1', '2', '3', '-2', '7'])}", False
            operator = self.pick(["+", "-", "*", "+", "-", "&", "|", "^"])
            return f"{self.operand('int', variables, depth - 1)} {operator} {self.operand('int', variables, depth - 1)}", False
        if kind == "str":
            return f"{self.operand('str', variables, depth - 1)} + {self.operand('str', variables, depth - 1)}", False
        if kind in ELEMENT:
            method = self.pick(["union", "intersection"])
            return f"{self.operand(kind, variables, depth - 1)}.{method}({self.typed(kind, variables, depth - 1)[0]})", True
        # Dates, bytes: no operations that give them.
        return self.constant(kind), True

    def boolean(self, variables, depth):
        """A boolean expression (not atomic)."""
        choice = self.random.randint(0, 13)
        kinds = ["int", "str", "date", "bool", "bytes", "strset", "intset"]
        if choice <= 1:
            kind = self.pick(["int", "date"])
            operator = self.pick(["<", ">", "<=", ">="])
            return f"{self.operand(kind, variables, depth - 1)} {operator} {self.operand(kind, variables, depth - 1)}"
        if choice == 2:
            kind = self.pick(kinds)
            operator = self.pick(["===", "!=="])
            return f"{self.operand(kind, variables, depth - 1)} {operator} {self.operand(kind, variables, depth - 1)}"
        if choice == 3:
            # Lenient equality accepts operands of different types (false / true).
            operator = self.pick(["==", "!="])
            left, right = self.pick(kinds), self.pick(kinds)
            return f"{self.operand(left, variables, depth - 1)} {operator} {self.operand(right, variables, depth - 1)}"
        if choice == 4:
            method = self.pick(["contains", "starts_with", "ends_with"])
            return f"{self.operand('str', variables, depth - 1)}.{method}({self.typed('str', variables, depth - 1)[0]})"
        if choice == 5:
            kind = self.pick(["strset", "intset"])
            if self.chance(0.5):
                argument = self.typed(ELEMENT[kind], variables, depth - 1)[0]
            else:
                argument = self.typed(kind, variables, depth - 1)[0]
            return f"{self.operand(kind, variables, depth - 1)}.contains({argument})"
        if choice == 6:
            return f"!{self.operand_forced('bool', variables, depth - 1)}"
        if choice in (7, 8):
            operator = self.pick(["&&", "||"])
            return f"{self.operand('bool', variables, depth - 1)} {operator} {self.operand('bool', variables, depth - 1)}"
        if choice == 9:
            kind = self.pick(["strset", "intset"])
            parameter = f"p{depth}"
            inner = dict(variables)
            inner[parameter] = ELEMENT[kind]
            method = self.pick(["all", "any"])
            return f"{self.operand(kind, variables, depth - 1)}.{method}(${parameter} -> {self.typed('bool', inner, depth - 1)[0]})"
        if choice == 10 and self.chance(0.3):
            pattern = self.pick(['"^a"', '"b$"', '"a.c"', '"[0-9]+"', '"é"', '"^(read|write)$"'])
            return f"{self.operand('str', variables, depth - 1)}.matches({pattern})"
        if choice == 11:
            return f"{self.operand('int', variables, depth - 1)} {self.pick(['<', '>', '==', '!='])} {self.integer()}"
        if choice == 12:
            return f"{self.operand('bool', variables, depth - 1)} === {self.pick(['true', 'false'])}"
        return f"{self.operand('int', variables, depth - 1)} {self.pick(['<', '>', '<=', '>='])} {self.operand('int', variables, depth - 1)}"

    def operand_forced(self, kind, variables, depth):
        """An expression of `kind`, always parenthesised."""
        text, _ = self.typed(kind, variables, depth)
        return f"({text})"

    def probe(self):
        """A constant expression that fails with an error when evaluated (or, sometimes, one
        that does not, to keep the probes honest)."""
        return self.pick([
            "1 / 0 == 1",
            "9223372036854775807 + 1 > 0",
            "-9223372036854775807 - 2 < 0",
            "4611686018427387904 * 2 > 0",
            '1 === "a"',
            '"a" < 1',
            "!1",
            "true && 1",
            "{1}.contains({1, 2})",
            "1 + 1 == 2",
        ])

    def expressions(self, variables, count):
        return [self.boolean(variables, self.random.randint(1, 3)) for _ in range(count)]

    # -- statements ------------------------------------------------------------------------

    def query(self, predicates, allow_empty=True):
        """A query body: predicates then expressions (a constant-only body when empty)."""
        minimum = 0 if allow_empty else 1
        texts, variables = self.body(predicates, minimum=minimum, maximum=2)
        if not texts:
            # Body-less: constant expressions only.
            expressions = [self.boolean({}, self.random.randint(1, 2))]
        else:
            expressions = self.expressions(variables, self.random.randint(0, 2))
        if self.chance(0.03):
            expressions.insert(0, self.probe())
        return ", ".join(texts + expressions)

    def scoped(self, body, scopes):
        if scopes and self.chance(0.15):
            return f"{body} trusting {self.pick(scopes)}"
        return body

    def check(self, predicates, scopes):
        kind = self.pick(["check if", "check if", "check if", "check all", "reject if"])
        count = 1 if self.chance(0.75) else 2
        return kind + " " + " or ".join(self.scoped(self.query(predicates), scopes) for _ in range(count))

    def rule(self, predicates, scopes):
        head = self.pick(list(DERIVED))
        for _ in range(10):
            texts, variables = self.body(predicates, minimum=1, maximum=2)
            terms = []
            for kind in DERIVED[head]:
                same = [variable for variable, known in variables.items() if known == kind]
                if same and self.chance(0.85):
                    terms.append("$" + self.pick(same))
                else:
                    terms.append(self.constant(kind))
            expressions = self.expressions(variables, self.random.randint(0, 1))
            if self.chance(0.03):
                expressions.insert(0, self.probe())
            return self.scoped(f"{head}({', '.join(terms)}) <- {', '.join(texts + expressions)}", scopes)
        raise AssertionError("unreachable")

    def policy(self, predicates):
        kind = self.pick(["allow if", "allow if", "deny if"])
        count = 1 if self.chance(0.8) else 2
        return kind + " " + " or ".join(self.query(predicates) for _ in range(count))

    def block(self, scopes=()):
        """A token block's source."""
        predicates = list(ALL_PREDICATES)
        statements = [self.fact() for _ in range(self.random.randint(0, 8))]
        statements += [self.rule(predicates, list(scopes)) for _ in range(self.random.randint(0, 2))]
        statements += [self.check(predicates, list(scopes)) for _ in range(self.random.choice([0, 0, 1, 1, 2, 3]))]
        return "".join(statement + ";\n" for statement in statements)

    def authorizer(self):
        """An authorizer's source: facts, rules, checks, then 1 to 3 policies."""
        statements = [self.fact() for _ in range(self.random.randint(0, 4))]
        if self.chance(0.3):
            statements.append(f"time({self.pick(DATES)})")
        statements += [self.rule(list(ALL_PREDICATES), []) for _ in range(self.random.randint(0, 1))]
        statements += [self.check(list(ALL_PREDICATES), []) for _ in range(self.random.choice([0, 0, 1, 2]))]
        statements += [self.policy(list(ALL_PREDICATES)) for _ in range(self.random.randint(1, 3))]
        if self.chance(0.4):
            statements.append("allow if true")
        return "".join(statement + ";\n" for statement in statements)

    def case(self):
        """(authority source, [attenuation block sources], authorizer source)."""
        authority = self.block()
        blocks = []
        for _ in range(self.random.choice([0, 0, 1, 1, 2])):
            blocks.append(self.block(scopes=["authority", "previous"]))
        return authority, blocks, self.authorizer()
