"""The Chinese plate alphabet: CCPD's three character lists (a leaf module: it imports nothing).

The plate generator (:mod:`calibration.synth`), the CCPD file-name parser
(:mod:`calibration.ccpd`, which re-exports the three lists) and the OCR model
builders (:mod:`exporters.zoo.torch_models`) all read the alphabet from here, so
a model builder does not depend on a file-name parser.
"""

# The three character lists, in the CCPD README's order. The last entry of each is the
# letter "O", CCPD's sign for "no character" (Chinese plates have no letter O); a
# decoded text keeps it as the letter "O".

#: Province characters, index 0..33 of the first plate character.
PROVINCES: tuple[str, ...] = (
    "皖", "沪", "津", "渝", "冀", "晋", "蒙", "辽", "吉", "黑", "苏", "浙", "京", "闽", "赣", "鲁", "豫", "鄂", "湘",
    "粤", "桂", "琼", "川", "贵", "云", "藏", "陕", "甘", "青", "宁", "新", "警", "学", "O",
)  # fmt: skip

#: Letters (no I, no O) plus the "O" placeholder, index 0..24 of the second character.
ALPHABETS: tuple[str, ...] = (
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S", "T", "U", "V", "W",
    "X", "Y", "Z", "O",
)  # fmt: skip

#: Letters, digits and the "O" placeholder ("ads"), index 0..34 of the remaining characters.
ADS: tuple[str, ...] = (
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S", "T", "U", "V", "W", "X",
    "Y", "Z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "O",
)  # fmt: skip


__all__ = ["ADS", "ALPHABETS", "PROVINCES"]
