# Turns every file in DIR (share/console/) into a C array in OUT, so that
# berthd serves its web console without reading files at run time
# (docs/console.md). Run by the build with cmake -P; needs nothing else.
file(GLOB files RELATIVE ${DIR} ${DIR}/*)
list(SORT files)
set(arrays "")
set(table "")
set(i 0)
foreach(name ${files})
  if(IS_DIRECTORY ${DIR}/${name})
    continue()
  endif()
  file(READ ${DIR}/${name} hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  # 0x.., per byte, a line break every 16 bytes.
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
  string(APPEND arrays "static const unsigned char file${i}[${len} + 1] = {\n${bytes}0x00};\n")
  string(APPEND table "  {\"${name}\", file${i}, ${len}},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE ${OUT} "/* Generated from share/console by cmake/embed_console.cmake: do not edit. */\n"
  "#include \"console_files.h\"\n\n${arrays}\n"
  "const console_file console_files[] = {\n${table}  {0, 0, 0},\n};\n")
