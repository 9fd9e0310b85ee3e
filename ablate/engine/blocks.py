"""Block types: each residual block is described in one place.

A block type is a subclass of `Block`. For a block of a given `BlockShape` (its input and output
widths, C, d, stride, input resolution, shortcut) it says:

- `layers(shape)`: its counted layers in module order, named like the module's submodules
  (torchvision's names for the built-in blocks), each with its params, FLOPs (multiply-adds) and acts;
- `text(shape)`: its entry in the paper's Table 1, e.g. `[1×1, 128; 3×3, 128, C=32; 1×1, 256]`;
- `module(shape, form)`: the `nn.Module`, in one of the paper's forms a, b, c (Fig. 3) where the
  block has them; torch is imported here only, when a model is built.

Everything else derives from these: the per-block counts that the closed-form `totals` multiplies by
a stage's depth, the network's layer-by-layer `complexity`, equation (4)'s block params and the
solver's `block` scope. A block type that does not list its layers is counted by running its module
once per distinct shape on torch's meta device (no memory, no arithmetic; `ablate.models.meta`), and
says so: its `method` is "meta" instead of "analytic".

`BLOCKS` names the built-in types (`bottleneck`, `basic`); a template's `block` may also be the import
path of a user's own type, `package.module:Class`. No torch import here.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ablate.errors import TemplateError, shown

FORMS = ("a", "b", "c")  # the paper's three equivalent forms of a block (Fig. 3); `auto` picks one

if TYPE_CHECKING:
    from torch import nn

    from ablate.engine.template import Stage


class Layer(NamedTuple):
    """One counted layer: its module name, kind, stage and counts.

    Conventions (paper §3.1, torchvision, pycls): params are conv and FC weights and biases and BN's
    two affine vectors; FLOPs are multiply-adds of convs and FC layers, biases excluded (as torchvision
    counts); acts are the output elements of every conv, max-pool and FC layer (pycls).
    """

    name: str
    kind: str  # conv | bn | pool | fc | block (a whole block, counted on the meta device)
    stage: str  # stem | conv2 | ... | head
    params: int
    flops: int
    acts: int


def conv(name: str, w_in: int, w_out: int, k: int, resolution: int, groups: int = 1, bias: bool = False) -> Layer:
    """A k×k conv from `w_in` to `w_out` channels with `resolution`² outputs per channel."""
    weights = k * k * (w_in // groups) * w_out
    return Layer(
        name,
        "conv",
        "",
        weights + (w_out if bias else 0),
        weights * resolution * resolution,
        w_out * resolution * resolution,
    )


def bn(name: str, width: int) -> Layer:
    """A BN layer: γ and β per channel, no FLOPs (it folds into the conv before it)."""
    return Layer(name, "bn", "", 2 * width, 0, 0)


def max_pool(name: str, width: int, resolution: int) -> Layer:
    """A max-pool: no params, no FLOPs, `width`·`resolution`² acts."""
    return Layer(name, "pool", "", 0, 0, width * resolution * resolution)


def fc(name: str, w_in: int, w_out: int) -> Layer:
    """A fully connected layer with bias (its bias is a param but not a FLOP)."""
    return Layer(name, "fc", "", w_in * w_out + w_out, w_in * w_out, w_out)


class BlockShape(NamedTuple):
    """Everything one block's layers depend on: where it sits in its stage.

    The first block of a stage takes the stage's input width and stride; the others map `width` to
    `width` at stride 1. Two blocks of equal shape have equal counts, so counts are cached per shape.
    """

    in_width: int
    width: int  # output width
    cardinality: int  # C
    bottleneck_width: int  # d of this stage
    stride: int
    in_resolution: int
    shortcut: bool

    @property
    def group_width(self) -> int:
        """C·d: the width of the grouped 3×3 conv (of the block's inner layers)."""
        return self.cardinality * self.bottleneck_width

    @property
    def resolution(self) -> int:
        """The output resolution: (in_resolution − 1) // stride + 1."""
        return (self.in_resolution - 1) // self.stride + 1

    @property
    def projection(self) -> bool:
        """Whether the shortcut needs a projection (1×1 conv + BN): the shape changes."""
        return self.shortcut and (self.in_width != self.width or self.stride != 1)

    @classmethod
    def of(cls, stage: Stage, first: bool, shortcut: bool) -> BlockShape:
        """The shape of a stage's first block, or of each of its other blocks."""
        if first:
            return cls(
                stage.in_width,
                stage.width,
                stage.cardinality,
                stage.bottleneck_width,
                stage.stride,
                stage.in_resolution,
                shortcut,
            )
        return cls(stage.width, stage.width, stage.cardinality, stage.bottleneck_width, 1, stage.resolution, shortcut)


class BlockCounts(NamedTuple):
    """One block's totals; `weights` are its params other than BN's (what equation 4 counts)."""

    params: int
    flops: int
    acts: int
    weights: int


def _owner(cls: type, *names: str) -> type:
    """The class in `cls`'s MRO that last defined one of the methods `names`."""
    return next(k for k in cls.__mro__ if any(name in vars(k) for name in names))


class Block:
    """A block type: subclass it, give `module` and, for an exact count without torch, `residual_layers`.

    A block type has no state: the engine uses one instance per class. `layers` lists the residual
    layers, then the projection shortcut that every block shares (`downsample.0/1`, torchvision's
    names) where the shape changes; override `residual_layers` (or `layers` as a whole).

    The layers count a block only where they describe its module: a class whose layers are inherited
    from above the class that defines its `module` (a subclass of `Bottleneck` that builds a different
    module and lists nothing) is counted on the meta device (`method == "meta"`), as is one that lists no
    layers at all. Likewise a closed-form `counts` holds only for the class that wrote it beside its
    layers and module; a subclass that changes either is counted from its own layers again.
    """

    method: ClassVar[str] = "meta"  # set per subclass: "analytic" where its layers describe its module

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        layers, module, counts = _owner(cls, "layers", "residual_layers"), _owner(cls, "module"), _owner(cls, "counts")
        cls.method = "analytic" if layers is not Block and issubclass(layers, module) else "meta"
        if counts is not Block and not (issubclass(counts, layers) and issubclass(counts, module)):
            cls.counts = Block.counts  # type: ignore[method-assign]  # the closed form of another class's layers

    def residual_layers(self, shape: BlockShape) -> Iterable[Layer]:
        """The layers of the residual function, in module order (names relative to the block)."""
        raise NotImplementedError(f"{type(self).__name__} does not list its layers")

    def shortcut_layers(self, shape: BlockShape) -> Iterator[Layer]:
        """The projection shortcut where the shape changes: 1×1 conv (stride here) and BN."""
        if shape.projection:
            yield conv("downsample.0", shape.in_width, shape.width, 1, shape.resolution)
            yield bn("downsample.1", shape.width)

    def layers(self, shape: BlockShape) -> Iterator[Layer]:
        """Every counted layer of one block of this shape, in module order."""
        yield from self.residual_layers(shape)
        yield from self.shortcut_layers(shape)

    def text(self, shape: BlockShape) -> str:
        """The block's entry in Table 1 (for the shape of a stage's repeated block)."""
        return f"[{type(self).__name__}, {shape.width}]"

    def module(self, shape: BlockShape, form: str) -> nn.Module:
        """The torch module of one block of this shape in `form` (a, b or c)."""
        raise NotImplementedError(f"{type(self).__name__} does not build a module")

    def counts(self, shape: BlockShape) -> BlockCounts:
        """Params, FLOPs, acts and weights (equation 4's params) of one block of this shape.

        The sums of `layers` (or one meta-device run), cached per shape. A type may override this with
        its own closed form, which tests must hold equal to the layer sums: the built-in blocks do, as
        `totals` calls it for every stage of every template the solver tries.
        """
        return block_counts(self, shape)


class Bottleneck(Block):
    """1×1 (w_in→C·d), grouped 3×3 with C groups (stride here), 1×1 (C·d→width), each followed by BN.

    Forms a, b and c (Fig. 3) are one function with one count; layers and names are form c's, torchvision's.
    """

    def residual_layers(self, shape: BlockShape) -> Iterator[Layer]:
        g, r = shape.group_width, shape.resolution
        yield conv("conv1", shape.in_width, g, 1, shape.in_resolution)
        yield bn("bn1", g)
        yield conv("conv2", g, g, 3, r, groups=shape.cardinality)
        yield bn("bn2", g)
        yield conv("conv3", g, shape.width, 1, r)
        yield bn("bn3", shape.width)

    def counts(self, shape: BlockShape) -> BlockCounts:
        # the sums of `layers` in closed form: a few multiplications instead of eight Layer objects
        w_in, w, c, d, stride, r_in, shortcut = shape
        g, r = c * d, (r_in - 1) // stride + 1
        a_in, a = r_in * r_in, r * r
        w1, w23 = w_in * g, 9 * d * g + g * w  # conv1; conv2 (C groups of d×d 3×3 filters) and conv3
        weights, flops, acts = w1 + w23, w1 * a_in + w23 * a, g * a_in + (g + w) * a
        if shortcut and (w_in != w or stride != 1):  # downsample.0/1
            p = w_in * w
            return BlockCounts(weights + p + 4 * g + 4 * w, flops + p * a, acts + w * a, weights + p)
        return BlockCounts(weights + 4 * g + 2 * w, flops, acts, weights)

    def text(self, shape: BlockShape) -> str:
        g = shape.group_width
        c = f", C={shape.cardinality}" if shape.cardinality > 1 else ""
        return f"[1×1, {g}; 3×3, {g}{c}; 1×1, {shape.width}]"

    def module(self, shape: BlockShape, form: str) -> nn.Module:
        from ablate.models.blocks import BottleneckA, BottleneckB, BottleneckC

        return {"a": BottleneckA, "b": BottleneckB, "c": BottleneckC}[form](shape)


class Basic(Block):
    """Two dense 3×3 convs, w_in→C·d (stride here) and C·d→width, each followed by BN.

    With block depth 2 the C paths aggregate into one wide dense block (Fig. 4): one form only.
    """

    def residual_layers(self, shape: BlockShape) -> Iterator[Layer]:
        g, r = shape.group_width, shape.resolution
        yield conv("conv1", shape.in_width, g, 3, r)
        yield bn("bn1", g)
        yield conv("conv2", g, shape.width, 3, r)
        yield bn("bn2", shape.width)

    def counts(self, shape: BlockShape) -> BlockCounts:
        # the sums of `layers` in closed form
        w_in, w, c, d, stride, r_in, shortcut = shape
        g, r = c * d, (r_in - 1) // stride + 1
        a = r * r
        weights = 9 * w_in * g + 9 * g * w
        if shortcut and (w_in != w or stride != 1):  # downsample.0/1
            p = w_in * w
            return BlockCounts(weights + p + 2 * g + 4 * w, (weights + p) * a, (g + 2 * w) * a, weights + p)
        return BlockCounts(weights + 2 * g + 2 * w, weights * a, (g + w) * a, weights)

    def text(self, shape: BlockShape) -> str:
        return f"[3×3, {shape.group_width}; 3×3, {shape.width}]"

    def module(self, shape: BlockShape, form: str) -> nn.Module:
        from ablate.models.blocks import BasicBlock

        return BasicBlock(shape)  # forms a, b and c are the same block


BLOCKS: dict[str, type[Block]] = {"bottleneck": Bottleneck, "basic": Basic}


_INSTANCES: dict[type[Block], Block] = {}


def _instance(cls: type[Block]) -> Block:
    """The one instance of a block type (it has no state)."""
    block = _INSTANCES.get(cls)
    if block is None:
        block = _INSTANCES[cls] = cls()
    return block


@cache
def _import(path: str) -> type[Block]:
    """The block class at `module:Class` (imported once)."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr or module_name.startswith("."):
        raise TemplateError(
            f"block={path!r} is invalid: a block of your own is given as module:Class with an absolute module, "
            "e.g. mypkg.blocks:SEBottleneck."
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except (ImportError, ValueError) as e:
        raise TemplateError(f"block={path!r} cannot be imported: {e}.") from None
    except SyntaxError as e:  # the user's module does not compile: where, as Python says it
        raise TemplateError(f"block={path!r} cannot be imported: {e.msg} in {e.filename}, line {e.lineno}.") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TemplateError(f"block={path!r} cannot be imported: {obj.__name__!r} has no attribute {part!r}.")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Block)) or obj is Block:
        raise TemplateError(
            f"block={path!r} is not a block class: {obj!r} does not subclass ablate.engine.blocks.Block."
        )
    signature = inspect.signature(obj)
    try:
        signature.bind()
    except TypeError:
        raise TemplateError(
            f"block={path!r} cannot be built: {obj.__name__}{signature} takes arguments, and ablate builds a block "
            "type once without any (each method is given its block's shape); give its settings defaults or class "
            "attributes."
        ) from None
    return obj


def block_type(name: Any) -> Block:
    """The block type a template's `block` names: a built-in name or `module:Class`.

    Raises `TemplateError` with one sentence for an unknown name, an import path that does not import,
    or an object that is not a block class.
    """
    cls = BLOCKS.get(name) if isinstance(name, str) else None
    if cls is None:
        if not isinstance(name, str) or ":" not in name:
            hint = ", or a block of your own as module:Class" if isinstance(name, str) and "." in name else ""
            raise TemplateError(f"block={shown(name)} is unknown: valid blocks are {', '.join(BLOCKS)}{hint}.")
        cls = _import(name)
    return _instance(cls)


def block_name(block: Block) -> str:
    """The name a template gives `block`: a built-in name, else its import path `module:Class`."""
    cls = type(block)
    return next((name for name, c in BLOCKS.items() if c is cls), f"{cls.__module__}:{cls.__qualname__}")


@lru_cache(maxsize=1 << 14)
def block_counts(block: Block, shape: BlockShape) -> BlockCounts:
    """One block's counts: the sums of its layers, or one meta-device run where it lists none.

    Cached per (block type, shape): a network has at most two shapes per stage, and the solver
    revisits the same ones, so a meta-counted block is built once per shape, not once per template.
    """
    if block.method == "meta":
        from ablate.models.meta import count_block  # torch, only for a block that lists no layers

        try:
            return count_block(block, shape)
        except (NotImplementedError, RuntimeError) as e:  # no module, or one that does not run on meta tensors
            raise TemplateError(
                f"block={block_name(block)!r} cannot be counted on the meta device: {e}; "
                "give its block class a layers() method instead."
            ) from e
    params = flops = acts = weights = 0
    for layer in block.layers(shape):
        params += layer.params
        flops += layer.flops
        acts += layer.acts
        if layer.kind != "bn":
            weights += layer.params
    return BlockCounts(params, flops, acts, weights)
